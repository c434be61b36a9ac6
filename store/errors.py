"""Typed errors of the data store. `retryable` tells the activity layer how to map each one."""

from __future__ import annotations


class StoreError(Exception):
    retryable = False


class QuotaExceededError(StoreError):
    """The slot does not fit in the host's storage quota; refused before any byte is written."""


class ManifestMismatchError(StoreError):
    """The source's manifest disagrees with the request (slots, slot size, merkle root)."""


class ContentMismatchError(StoreError):
    """The downloaded bytes do not hash to the request's content commitment (corrupted data)."""


class UnverifiableContentError(StoreError):
    """The source offers no commitment we can check these bytes against."""


class SlotConflictError(StoreError):
    """The slot's directory already holds different data (another cid, index or size)."""


class SlotNotFoundError(StoreError):
    """No data stored for this slot."""


class InvalidSlotKeyError(StoreError, ValueError):
    """A slot key that is not safe as a directory name."""


class SourceError(StoreError):
    """The data source answered something we cannot use (4xx, bad range reply)."""


class SourceUnavailableError(StoreError):
    """The data source stayed unreachable or failing through every attempt; retry later."""

    retryable = True
