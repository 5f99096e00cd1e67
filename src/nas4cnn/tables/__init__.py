"""Tabular benchmarks: every network trained once, searches replayed against the table."""
