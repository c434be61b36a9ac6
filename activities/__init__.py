"""Thin, idempotent activity classes wiring chain/, ledger/, proofs/ and the store into Temporal.

Each class is built with its client at worker start; its methods delegate and translate typed
errors (activities/errors.py), holding no business rules.
"""
