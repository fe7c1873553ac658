"""The per-database table: one row per figure, tether beside DBOS, the ratio and the target.

DBOS has two columns: its defaults, and the faster configuration where a setting helps it
(``dbos-wal``: its SQLite file in WAL mode; ``dbos-tuned``: Q2 with a 0.05 s queue poll).
The ratio is always tether / the faster of the two DBOS figures on its row, and targets are
judged against that faster one: above 1 is better for a rate (↑), below 1 for a time (↓).
"""

from __future__ import annotations

from typing import Any

Results = dict[str, dict[str, dict[str, Any]]]  # workload -> engine -> figures


def _num(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _ratio(t: float | None, d: float | None) -> str:
    return "-" if t is None or d is None or d == 0 else f"{t / d:.2f}x"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


class _Rows:
    def __init__(self, res: Results) -> None:
        self.res = res
        self.rows: list[list[str]] = []

    def get(self, w: str, e: str, key: str) -> float | None:
        r = self.res.get(w, {}).get(e)
        if r is None or "error" in r or r.get(key) is None:
            return None
        return float(r[key])

    def cell(self, w: str, e: str, key: str) -> str:
        r = self.res.get(w, {}).get(e)
        return "error" if r is not None and "error" in r else _num(self.get(w, e, key))

    def alt(self, w: str) -> str | None:
        """The engine key of DBOS's tuned configuration for this workload, if it ran."""
        runs = self.res.get(w, {})
        return next((e for e in ALT_ENGINES if e in runs), None)

    def best_dbos(self, w: str, key: str, higher_is_better: bool) -> float | None:
        alt = self.alt(w)
        values = [v for v in (self.get(w, "dbos", key), alt and self.get(w, alt, key)) if v]
        if not values:
            return None
        return max(values) if higher_is_better else min(values)

    def compare(
        self, w: str, label: str, key: str, target: str = "", ok: bool | None = None
    ) -> tuple[float | None, float | None]:
        t = self.get(w, "tether", key)
        d = self.best_dbos(w, key, higher_is_better="↑" in label)
        alt = self.alt(w)
        self.rows.append(
            [
                w,
                label,
                self.cell(w, "tether", key),
                self.cell(w, "dbos", key),
                self.cell(w, alt, key) if alt else "",
                _ratio(t, d),
                target,
                _verdict(ok) if target else "",
            ]
        )
        return t, d

    def add(self, *cells: str) -> None:
        self.rows.append([*cells, *[""] * (len(HEADER) - len(cells))])


ALT_ENGINES = ("dbos-wal", "dbos-tuned")
HEADER = ["workload", "figure", "tether", "DBOS", "DBOS WAL/tuned", "tether/DBOS", "target", "ok"]


def rows_for(res: Results, *, is_postgres: bool = False) -> list[list[str]]:
    r = _Rows(res)
    floor = r.get("floor", "floor", "us_per_commit")
    if "floor" in res:
        r.add("floor", "µs per INSERT+COMMIT ↓", r.cell("floor", "floor", "us_per_commit"))
        if r.get("floor", "floor", "us_per_autocommit_insert") is not None:
            auto = r.cell("floor", "floor", "us_per_autocommit_insert")
            r.add("", "µs per autocommit INSERT ↓", auto)
    if "W1" in res:
        t, d = r.get("W1", "tether", "wf_per_s"), r.best_dbos("W1", "wf_per_s", True)
        r.compare("W1", "workflows/s ↑", "wf_per_s", "≥ 2x DBOS", _at_least(t, d, 2))
        _same_workload_row(r, "W1", "µs per workflow ↓", "us_per_wf")
    if "W2" in res:
        t = r.get("W2", "tether", "us_per_step_marginal")
        # Judged against the lower of the floor row and the floor measured around the tether
        # W2 run itself (same moment, same disk): a busy machine only ever inflates a floor.
        # On Postgres the floor is the autocommit INSERT (one round trip), which is what a
        # tether checkpoint is: a single fenced statement, committed on its own.
        kind = "us_per_autocommit_insert" if is_postgres else "us_per_commit"
        floors = [f for f in (r.get("W2", "tether", kind), r.get("floor", "floor", kind)) if f]
        if not floors:  # results from before the autocommit floor was measured in W2
            floors = [f for f in (r.get("W2", "tether", "floor_us"), floor) if f]
        wfloor = min(floors) if floors else None
        ok = None if t is None or wfloor is None else t <= 1.5 * wfloor
        what = "autocommit floor" if is_postgres else "floor"
        target = f"≤ 1.5x {what}" + (f" ({1.5 * wfloor:,.0f})" if wfloor else "")
        r.compare("W2", "µs per step, marginal ↓", "us_per_step_marginal", target, ok)
        _same_workload_row(r, "W2", "µs per step, total/steps ↓", "us_per_step_total")
        _same_workload_row(r, "W2", "floor µs during the run", "floor_us")
        if is_postgres:
            _same_workload_row(r, "W2", "autocommit floor µs during the run", kind)
        if wfloor and t:
            per_floor = [f"{t / wfloor:.2f}x"]
            for e in ("dbos", r.alt("W2")):
                d = r.get("W2", e, "us_per_step_marginal") if e else None
                per_floor.append(f"{d / wfloor:.2f}x" if d else "")
            r.add("", f"marginal step / {what}", *per_floor)
    if "W3" in res:
        t, d = r.get("W3", "tether", "wf_per_s"), r.best_dbos("W3", "wf_per_s", True)
        r.compare("W3", "workflows/s ↑", "wf_per_s", "≥ 3x DBOS", _at_least(t, d, 3))
    if "W4" in res:
        w4 = res["W4"].get("tether", {})
        if "error" in w4:
            r.add("W4", "s from kill to all done ↓", "error", "skipped", "")
        elif w4:
            rec, dup, lease = w4["recovery_seconds"], w4["duplicated_completed"], w4["lease_s"]
            target = f"≤ lease {lease:g} + 3 s"
            r.add(
                "W4",
                "s from kill to all done ↓",
                _num(rec, 2),
                "skipped",
                "",
                "-",
                target,
                _verdict(rec <= lease + 3),
            )
            first = w4.get("first_peer_checkpoint_s")
            r.add("", "s from kill to peer's 1st checkpoint", _num(first, 2), "skipped")
            r.add(
                "",
                "duplicated completed steps",
                str(dup),
                "skipped",
                "",
                "-",
                "= 0",
                _verdict(dup == 0),
            )
            r.add(
                "",
                "in-flight steps re-run",
                str(w4["rerun_in_flight"]),
                "skipped",
                "",
                "-",
                "(at-least-once)",
            )
            r.add("", "steps done at kill", f"{w4['steps_at_kill']}/{w4['n'] * w4['steps']}")
    if "W5" in res:
        r.compare("W5", "workflows/s, 100 KB out ↑", "wf_per_s")
    if "Q1" in res:
        t, d = r.get("Q1", "tether", "wf_per_s"), r.best_dbos("Q1", "wf_per_s", True)
        ok = _at_least(t, d, 3)
        r.compare("Q1", "queued workflows/s, 2 workers ↑", "wf_per_s", "≥ 3x DBOS", ok)
        _same_workload_row(r, "Q1", "start p50 ms after first dequeue ↓", "start_p50_ms")
        _same_workload_row(r, "Q1", "start p99 ms after first dequeue ↓", "start_p99_ms")
        r.add("", "workflows run by each worker", *[_split(res, "Q1", e) for e in _engines(r)])
    if "Q2" in res:
        t = r.get("Q2", "tether", "p50_ms")
        ok = None if t is None else t <= 10
        r.compare("Q2", "enqueue to start p50 ms, idle ↓", "p50_ms", "≤ 10 ms", ok)
        _same_workload_row(r, "Q2", "enqueue to start p99 ms, idle ↓", "p99_ms")
    return r.rows


def _engines(r: _Rows) -> list[str]:
    return ["tether", "dbos", r.alt("Q1") or ""]


def _split(res: Results, w: str, engine: str) -> str:
    """Workflows per worker process, e.g. ``2,512/2,488``; ``5,000/0 (one took all)``."""
    run = res.get(w, {}).get(engine)
    if not engine or not run or "error" in run or "per_worker" not in run:
        return ""
    counts = sorted(run["per_worker"], reverse=True) + [0] * (2 - len(run["per_worker"]))
    text = "/".join(f"{c:,}" for c in counts)
    return text + (" (one took all)" if counts[-1] == 0 else "")


def _at_least(t: float | None, d: float | None, factor: float) -> bool | None:
    return None if t is None or d is None else t >= factor * d


def _same_workload_row(r: _Rows, w: str, label: str, key: str) -> None:
    r.compare(w, label, key)
    r.rows[-1][0] = ""


def render(title: str, rows: list[list[str]]) -> str:
    header = HEADER
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    aligns = ["<", "<", ">", ">", ">", ">", "<", "<"]

    def line(row: list[str]) -> str:
        cells = zip(row, aligns, widths, strict=True)
        return "  ".join(f"{c:{a}{w}}" for c, a, w in cells).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([title, sep, line(header), sep, *[line(row) for row in rows], sep])
