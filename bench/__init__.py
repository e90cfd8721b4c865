"""Benchmarks: each prints ratios against a baseline measured in the same run (results in docs/benchmarks.md)."""
