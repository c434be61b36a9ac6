"""Benchmarks: scripts that print numbers (`make bench`); not collected by pytest."""
