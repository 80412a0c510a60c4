"""The event log and its state. One interface; DuckDB by default."""

from klantreis.store.duckdb_store import AppendResult, EventStore, StoreError, StoreLockedError

__all__ = ["AppendResult", "EventStore", "StoreError", "StoreLockedError"]
