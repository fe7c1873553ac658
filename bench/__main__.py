import importlib
import sys

from .run import main

# Benchmarks of their own, outside the workload table: python -m bench <name> [options]
NAMED = {"wake": "bench.wake", "agents": "bench.agents"}

if len(sys.argv) > 1 and sys.argv[1] in NAMED:
    sys.exit(importlib.import_module(NAMED[sys.argv[1]]).main(sys.argv[2:]))
sys.exit(main())
