"""File ingest: readers (CSV, Parquet, JSON/NDJSON, XES), mapping files for foreign
layouts, and ``ingest_paths`` which stores them batch by batch with a summary.

>>> from klantreis.ingest import ingest_paths, load_mapping  # doctest: +SKIP
"""

from klantreis.ingest.mapping import Mapping, MappingError, load_mapping, parse_mapping
from klantreis.ingest.runner import expand_paths, ingest_paths
from klantreis.ingest.summary import FileSummary, IngestSummary

__all__ = [
    "FileSummary",
    "IngestSummary",
    "Mapping",
    "MappingError",
    "expand_paths",
    "ingest_paths",
    "load_mapping",
    "parse_mapping",
]
