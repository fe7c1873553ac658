"""Profile one tether workload in-process: ``python -m bench.profile W2 --db sqlite``.

W1, W2 and W5 run inline in the calling thread, so cProfile sees the whole cost of a
workflow; W3 runs on the pool and only its start/wait side shows up here.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile

from .common import drop_pg_database, fresh_pg_database, fresh_sqlite_file, quiet_logs, run_db_name
from .tether_workloads import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W5"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", help="also dump the raw stats here (for snakeviz etc.)")
    args = parser.parse_args()
    quiet_logs()
    with tempfile.TemporaryDirectory(prefix="tether-profile-") as tmp:
        if args.db == "sqlite":
            url = "sqlite:///" + fresh_sqlite_file(tmp, "profile")
        else:
            url = fresh_pg_database(run_db_name("tether"))
        prof = cProfile.Profile()
        prof.enable()
        try:
            out = run(args.workload, url, "quick" if args.quick else "full")
        finally:
            prof.disable()
            if args.db == "postgres":
                drop_pg_database(run_db_name("tether"))
    print(out)
    if args.out:
        prof.dump_stats(args.out)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(buf.getvalue())


if __name__ == "__main__":
    main()
