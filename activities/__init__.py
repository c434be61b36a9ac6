"""Thin, idempotent activity classes wiring chain/, ledger/, proofs/ and store/ into Temporal."""
