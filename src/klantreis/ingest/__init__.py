"""Every way in: files, Parquet SQL, HTTP and the demo, through one pipeline.

Where events are written: ``klantreis.ingest.pipeline`` (its docstring maps every way in to
the module that runs it). Here: readers (CSV, Parquet, JSON/NDJSON, XES), mapping files for
foreign layouts, ``ingest_paths`` for files, ``EventWriter`` for HTTP, and ``ingest_table``
for batches from Python.

>>> from klantreis.ingest import ingest_paths, load_mapping  # doctest: +SKIP
"""

from klantreis.ingest.mapping import Mapping, MappingError, load_mapping, parse_mapping
from klantreis.ingest.pipeline import Destination, ingest_events, ingest_table
from klantreis.ingest.runner import expand_paths, ingest_paths
from klantreis.ingest.summary import FileSummary, IngestSummary

__all__ = [
    "Destination",
    "FileSummary",
    "IngestSummary",
    "Mapping",
    "MappingError",
    "expand_paths",
    "ingest_events",
    "ingest_paths",
    "ingest_table",
    "load_mapping",
    "parse_mapping",
]
