"""The embedded local stack: real Temporal, PostgreSQL and anvil on loopback.

`python starter.py stack up|down|status` and the test fixtures use the same classes.
"""
