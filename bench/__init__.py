"""Benchmarks for issue #11 (``make bench``): cold start, AWS calls and CPU per event, cost.

Not tests: nothing here asserts a timing. Each figure is a median over repeated runs, and every
comparison is a ratio measured in the same run. See docs/benchmarks.md.
"""
