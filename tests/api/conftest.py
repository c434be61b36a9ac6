"""The real stack of tests/e2e (anvil mining a block a second, the development marketplace,
the data server, worker.py) for the API's own end-to-end test."""

from tests.e2e.conftest import e2e, e2e_client

__all__ = ["e2e", "e2e_client"]
