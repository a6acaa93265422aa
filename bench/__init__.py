"""Benchmarks: each measures ours against a baseline side by side in one run and reports ratios."""
