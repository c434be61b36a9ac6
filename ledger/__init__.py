"""The reservations ledger: availabilities, reservations, bytes and collateral in PostgreSQL."""
