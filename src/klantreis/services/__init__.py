"""Use cases (ingest, surveys, cases, notifications): orchestration, no SQL."""
