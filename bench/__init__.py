"""Benchmarks of tether, side by side with DBOS on the same workloads (see README.md)."""
