"""The store's checkpoint policy (decision 70): a batch's page refreshes write under
``wal_limit_mb`` without a checkpoint, and a store that stops right after them, its
write-ahead log not yet checkpointed, opens again with every kept table as it was and pages
equal to a rebuild's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from conftest import bearer, make_settings, survey_records
from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.web import create_app
from klantreis.web.app import FRESH_PAGES

ROOT = Path(__file__).resolve().parents[2]

#: The child: the batch ingested, every kept table and the four pages' default views
#: refreshed (the kept-views job's parts without its checkpoint), the tables' checksums
#: printed, then the process ends without closing the store (no checkpoint on close).
CHILD = """
import json, os, sys
import pyarrow.parquet as pq
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.settings import Settings
from klantreis.web import create_app
from klantreis.web.app import default_views
sys.path.insert(0, sys.argv[3])
from test_wal_policy import checksums

app = App(Settings.load(env={}, **json.loads(sys.argv[1])))
api = create_app(app)
ingest_table(app.store, pq.read_table(sys.argv[2]), app.journey, source="test")
for name in App.KEPT_TABLES:
    getattr(app, name)()
for _, view in default_views(api):
    view()
print(json.dumps(checksums(app.store.con)), flush=True)
os._exit(0)
"""


def checksums(con: duckdb.DuckDBPyConnection) -> dict[str, list[int]]:
    """Every table's row count and an order-free hash of its rows."""
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " AND NOT temporary ORDER BY 1"
    ).fetchall()
    out = {}
    for (name,) in names:
        row = con.execute(f'SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM "{name}" t')
        count, digest = row.fetchall()[0]
        out[name] = [int(count), int(digest)]
    return out


def _batch(tmp_path: Path) -> Path:
    rows = survey_records(days=3, per_day=15, seed=11, end=datetime(2026, 4, 3, 12, tzinfo=UTC))
    for r in rows:
        r["event_id"] = f"crash-{r['event_id']}"
    path = tmp_path / "batch.parquet"
    pq.write_table(events_from_records(list(rows), source="test"), path)
    return path


def _pages(app: App) -> dict[str, Any]:
    token, _ = accounts.create_token(app.store, ["read"], user="analyst")
    out = {}
    with TestClient(create_app(app)) as client:
        for name in FRESH_PAGES:
            resp = client.get(f"/api/v1/{name}", headers=bearer(token))
            assert resp.status_code == 200, resp.text
            out[name] = resp.json()["data"]
    return out


def test_a_store_stopped_before_its_checkpoint_opens_with_every_kept_table(
    template_store: Path, tmp_path: Path
) -> None:
    path = tmp_path / "crashed.duckdb"
    shutil.copyfile(template_store, path)
    wal = Path(f"{path}.wal")
    batch = _batch(tmp_path)
    settings = {
        k: v
        for k, v in make_settings(str(path)).as_dict(reveal_secrets=True).items()
        if v is not None
    }
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(settings), str(batch), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    before = json.loads(child.stdout.strip().splitlines()[-1])
    # the batch and the refreshes are in the log only: no write crossed the limit
    assert wal.exists() and wal.stat().st_size > 0
    with duckdb.connect(str(template_store), read_only=True) as con:
        stored = checksums(con)
    assert before["event_log"][0] == stored["event_log"][0] + pq.read_metadata(batch).num_rows

    with App(make_settings(str(path))) as recovered:  # DuckDB replays the log on open
        assert checksums(recovered.store.con) == before  # every table, kept ones too
        after = _pages(recovered)

    rebuilt_path = tmp_path / "rebuilt.duckdb"
    shutil.copyfile(template_store, rebuilt_path)
    with App(make_settings(str(rebuilt_path))) as rebuilt:
        ingest_table(rebuilt.store, pq.read_table(batch), rebuilt.journey, source="test")
        expected = _pages(rebuilt)
    assert after["index"]["n_answers"] > 0
    assert after == expected
