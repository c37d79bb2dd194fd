"""BI readers and the publisher never block each other, and a reader never sees a mixed file.

The reader is a real separate process (``tests/defs/serving_reader.py``) that reconnects and
queries the serving database in a loop while this process publishes again and again. The
lead can point the same reader at a full pipeline run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs import serving as serving_defs
from dagster_project.lib import serving

READER = Path(__file__).with_name("serving_reader.py")


def write_marts(warehouse: Path, batch: int) -> None:
    """Three marts that all carry ``batch``, with row counts that differ from batch to batch."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema if not exists marts")
        for offset, table in enumerate(("dim_contacts", "fct_orders", "rpt_status")):
            con.execute(
                f"create or replace table marts.{table} as "
                f"select range as id, {batch} as batch, repeat('x', 50) as padding "
                f"from range({1000 * batch + offset})"
            )
    finally:
        con.close()


def start_reader(db: Path, out: Path, duration: float) -> subprocess.Popen:
    ready = out.with_suffix(".ready")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(READER),
            str(db),
            "--duration",
            str(duration),
            "--output",
            str(out),
            "--marker-column",
            "batch",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"reader did not start: {err.decode()[-2000:]}")
        time.sleep(0.02)
    return proc


@pytest.mark.integration
def test_reader_is_never_blocked_and_never_sees_a_mixed_publication(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    serving_dir = tmp_path / "serving"
    write_marts(warehouse, batch=1)
    first = serving.publish_serving(warehouse, serving_dir, keep=3, run_id="batch-1")
    out = tmp_path / "reader.json"
    reader = start_reader(first.path, out, duration=4.0)

    published = [first]
    rolled_back = None
    try:
        batch = 1
        while reader.poll() is None and len(published) < 40:
            batch += 1
            write_marts(warehouse, batch)
            published.append(
                serving.publish_serving(warehouse, serving_dir, keep=3, run_id=f"batch-{batch}")
            )
            if batch == 4:  # a rollback is a file swap too
                rolled_back = serving.rollback(serving_dir)
    finally:
        stdout, stderr = reader.communicate(timeout=30)
    assert reader.returncode == 0, stderr.decode()[-2000:]
    result = json.loads(out.read_text())

    assert result["errors"] == []  # no lock error, no missing file, no torn file
    assert result["mixed"] == []
    assert result["snapshot_changed"] == [] and result["snapshot_errors"] == []
    assert result["snapshot_version"] == first.version_id  # the long-lived reader kept its file
    assert result["queries"] > 20
    assert len(published) >= 5
    assert rolled_back is not None
    # the reconnecting reader followed the publications
    assert len(result["versions_seen"]) >= 3
    assert set(result["versions_seen"]) <= {p.version_id for p in published}
    assert result["max_open_seconds"] < 2
    assert len(serving.list_versions(serving_dir)) == 3


def test_reader_detects_a_file_that_mixes_two_publications(tmp_path):
    """The reader's check can fail: tables of two batches in one file are reported."""
    from tests.defs import serving_reader

    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse, batch=1)
    info = serving.publish_serving(warehouse, tmp_path / "serving")
    mixed = tmp_path / "mixed.duckdb"
    mixed.write_bytes(info.path.read_bytes())
    con = duckdb.connect(str(mixed))
    con.execute(
        "create or replace table marts.fct_orders as "
        "select range as id, 2 as batch, '' as padding from range(2001)"
    )
    con.close()

    result = serving_reader.run(mixed, duration=0.2, marker=None)
    assert result["errors"] == [] and result["mixed"]
    assert "fct_orders: 2001 rows, publication recorded 1001" in result["mixed"][0]["problems"]
    con = duckdb.connect(str(mixed))
    con.execute("update marts.fct_orders set batch = 1 where id = 0")  # same count, two markers
    con.execute("delete from marts.fct_orders where id > 1000")
    con.close()
    result = serving_reader.run(mixed, duration=0.2, marker="batch")
    assert result["mixed"] and "fct_orders: batch values" in result["mixed"][0]["problems"][0]


def test_serving_asset_publishes_the_marts_with_metadata(reveil_env):
    from dagster_project import settings

    warehouse = settings.warehouse_path()
    warehouse.parent.mkdir(parents=True)
    write_marts(warehouse, batch=2)
    mart_keys = ["marts/dim_contacts", "marts/fct_orders", "marts/rpt_status"]
    asset = serving_defs.build_serving_asset(mart_keys)

    result = dg.materialize([asset])

    assert result.success
    [mat] = result.asset_materializations_for_node(asset.op.name)
    metadata = mat.metadata
    assert metadata["path"] == dg.MetadataValue.path(str(settings.serving_dir() / "reveil.duckdb"))
    assert metadata["row_counts"].data == {
        "marts.dim_contacts": 2000,
        "marts.fct_orders": 2001,
        "marts.rpt_status": 2002,
    }
    assert metadata["version"].value == serving.current_version(settings.serving_dir())
    assert metadata["storage_version"].value == "v1.5.0"
    run_ids = {
        row[0]
        for row in duckdb.connect(str(settings.serving_dir() / "reveil.duckdb"), read_only=True)
        .execute("select run_id from meta.publication")
        .fetchall()
    }
    assert run_ids == {result.run_id}

    spec = asset.specs_by_key[serving_defs.SERVING_KEY]
    assert {dep.asset_key.to_user_string() for dep in spec.deps} == set(mart_keys)
    assert spec.group_name == "serving"
    assert "duckdb" in spec.kinds


def test_mart_keys_from_definitions_and_from_a_dbt_manifest(tmp_path):
    specs = [
        dg.AssetSpec(["marts", "dim_contacts"], group_name="marts"),
        dg.AssetSpec(["marts", "rpt_status"], group_name="marts"),
        dg.AssetSpec(["intermediate", "int_contacts"], group_name="intermediate"),
    ]
    keys = serving_defs.mart_keys(dg.Definitions(assets=specs))
    assert [k.to_user_string() for k in keys] == ["marts/dim_contacts", "marts/rpt_status"]

    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "nodes": {
                    "model.reveil.dim_contacts": {
                        "resource_type": "model",
                        "name": "dim_contacts",
                        "fqn": ["reveil", "marts", "contacts", "dim_contacts"],
                    },
                    "model.reveil.int_x": {
                        "resource_type": "model",
                        "name": "int_x",
                        "fqn": ["reveil", "intermediate", "int_x"],
                    },
                    "test.reveil.unique_x": {"resource_type": "test", "name": "unique_x"},
                }
            }
        )
    )
    assert serving_defs.mart_keys_from_manifest(manifest) == [
        dg.AssetKey(["marts", "dim_contacts"])
    ]
    assert serving_defs.mart_keys_from_manifest(tmp_path / "missing.json") == []


def test_serving_waits_for_every_mart_in_the_project_definitions():
    """Wiring check for definitions.py: serving/marts depends on every asset of group marts."""
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    if not graph.has(serving_defs.SERVING_KEY):
        pytest.skip("serving/marts is not wired into definitions.py yet")
    marts = set(serving_defs.mart_keys(defs))
    assert marts, "serving/marts is wired but the project has no asset in group 'marts'"
    assert marts <= graph.get(serving_defs.SERVING_KEY).parent_keys
