"""The host's data store: the local block store, the download client and a small data server."""
