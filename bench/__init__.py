"""Benchmarks (not tests: never collected by pytest, run with `make bench`). See bench/README.md."""
