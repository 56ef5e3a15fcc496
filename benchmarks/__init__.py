"""Benchmarks: hpsearch against its peers, side by side in one run (`make bench`, `make bench-quick`).

Each module is one benchmark with `main()`; `benchmarks.run` runs them one after another in
child processes of the same run, writes their JSON under `benchmarks/results/` and renders
BENCHMARKS.md from every JSON there (`benchmarks.report`). Nothing here is imported by the
product packages, and the tests do not run it.
"""
