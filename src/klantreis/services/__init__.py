"""Ingest orchestration (``services.ingest``); accounts and masking moved to ``klantreis.access``,
export to ``klantreis.export``."""
