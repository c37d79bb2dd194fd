"""The audience models on the hand-made raw schema plus 10,000 extra contacts, with dbt.

Three ``dbt build`` runs of ``+rpt_audience_lift`` (models and seeds, no tests: the dbt tests
and unit tests run in ``test_dbt_build.py``) on one warehouse:

1. audience date 2024-06-30;
2. the same day again, after c11 withdrew its email consent: the day is replaced;
3. the next day, 2024-07-01: appended, the first day kept.

Expected audience (raw_fixture.py's stories): at_risk / inactive / lost customers that can be
reached and are not excluded: c02, c03, c06, c08, c09, c11. c04 and c12 are hard-bounced,
c05 never bought, c07 is a purge candidate (closed company), c10 complained (no consent
left), c01 is active. c09 is held out with the default salt (its draw is 0.0867 < 0.1).
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project import settings
from dagster_project.lib import audiences
from tests.dbt.raw_fixture import ROWS, write_fixture

DBT = Path(sys.executable).parent / "dbt"
DAY_1 = "2024-06-30"
DAY_2 = "2024-07-01"
EXTRA_CONTACTS = 10_000
EXPECTED_AUDIENCE = {"c02", "c03", "c06", "c08", "c09", "c11"}

_VARS = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
SALT = _VARS["audience_holdout_salt"]
SHARE = _VARS["audience_holdout_share"]


def _rows() -> dict[str, list[dict]]:
    """The fixture plus EXTRA_CONTACTS contacts who never bought (never in the audience)."""
    rows = copy.deepcopy(ROWS)
    template = rows["contacts"][4]  # c05: created 2023-01-01, never bought, no event
    rows["contacts"] += [
        {**template, "contact_id": f"x{i:05d}", "email": f"x{i:05d}@example.com"}
        for i in range(EXTRA_CONTACTS)
    ]
    return rows


def _build(warehouse: Path, target: Path, as_of_date: str) -> None:
    result = subprocess.run(
        [
            str(DBT),
            "build",
            "--select",
            "+rpt_audience_lift",
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            json.dumps({"as_of_date": as_of_date}),
            "--profiles-dir",
            ".",
            "--project-dir",
            ".",
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
        ],
        cwd=settings.DBT_PROJECT_DIR,
        env={**os.environ, "REVEIL_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run the three builds; keep what each left behind for the tests."""
    tmp = tmp_path_factory.mktemp("audiences")
    warehouse = write_fixture(tmp / "warehouse.duckdb", _rows())
    target = tmp / "target"
    state = {"warehouse": warehouse, "exports": tmp / "exports"}

    _build(warehouse, target, DAY_1)
    state["groups_day_1"] = dict(
        _query(
            warehouse,
            "select contact_id, holdout_fraction "
            "from intermediate.int_contact_experiment_groups_assigned",
        )
    )
    state["holdouts_day_1"] = {
        contact
        for (contact,) in _query(
            warehouse,
            "select contact_id from intermediate.int_contact_experiment_groups_assigned "
            "where is_holdout",
        )
    }
    state["audience_day_1"] = {
        contact: holdout
        for contact, holdout in _query(
            warehouse, "select contact_id, is_holdout from marts.audience_reactivation_today"
        )
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        state["export_day_1"] = audiences.write_exports(con, state["exports"])

    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.contacts set email_consent = false where contact_id = 'c11'")
    _build(warehouse, target, DAY_1)  # same day again
    state["history_after_rerun"] = _query(
        warehouse,
        "select audience_date, contact_id from marts.audience_reactivation_history",
    )

    _build(warehouse, target, DAY_2)
    return state


def test_audience_of_the_fixture(runs):
    assert set(runs["audience_day_1"]) == EXPECTED_AUDIENCE
    assert {c for c, holdout in runs["audience_day_1"].items() if holdout} == {"c09"}


def test_holdout_share_on_ten_thousand_ids_and_python_twin(runs):
    groups = runs["groups_day_1"]
    assert len(groups) == EXTRA_CONTACTS + len(ROWS["contacts"])
    # the SQL draw (md5 -> first 8 hex digits -> / 16^8) equals its Python twin, id by id
    mismatches = {
        contact
        for contact, fraction in groups.items()
        if fraction != audiences.holdout_fraction(contact, SALT)
    }
    assert mismatches == set()
    share = len(runs["holdouts_day_1"]) / len(groups)
    # binomial sd of the share on 10,012 draws is 0.003: 0.1 +/- 0.01 is more than 3 sd
    assert abs(share - SHARE) < 0.01, share
    assert runs["holdouts_day_1"] == {
        contact for contact in groups if audiences.is_holdout(contact, SALT, SHARE)
    }


def test_holdout_is_stable_across_runs_and_audience_dates(runs):
    warehouse = runs["warehouse"]
    groups_day_2 = dict(
        _query(
            warehouse,
            "select contact_id, holdout_fraction "
            "from intermediate.int_contact_experiment_groups_assigned",
        )
    )
    assert groups_day_2 == runs["groups_day_1"]
    by_contact = {}
    for contact, holdout in _query(
        warehouse, "select contact_id, is_holdout from marts.audience_reactivation_history"
    ):
        by_contact.setdefault(contact, set()).add(holdout)
    assert by_contact and all(len(flags) == 1 for flags in by_contact.values())


def test_a_rerun_of_the_same_day_replaces_that_day(runs):
    rows = runs["history_after_rerun"]
    assert len(rows) == len(set(rows))
    assert {contact for _, contact in rows} == EXPECTED_AUDIENCE - {"c11"}  # c11: no consent
    assert {str(day) for day, _ in rows} == {DAY_1}


def test_the_next_day_is_appended_and_the_first_kept(runs):
    rows = _query(
        runs["warehouse"],
        "select cast(audience_date as varchar), count(*), count(distinct contact_id) "
        "from marts.audience_reactivation_history group by all order by 1",
    )
    assert rows == [(DAY_1, 5, 5), (DAY_2, 5, 5)]
    lift_dates = {
        str(day)
        for (day,) in _query(
            runs["warehouse"],
            "select audience_date from marts.rpt_audience_lift "
            "where aggregation_level = 'audience_date'",
        )
    }
    assert lift_dates == {DAY_1, DAY_2}


def test_exports_of_the_built_mart(runs):
    result = runs["export_day_1"]
    assert str(result.audience_date) == DAY_1
    assert result.rows == {"email": 5, "sms": 0, "push": 0}  # c09 held out
    assert result.holdouts == 1
    with result.paths["email"].open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [row["contact_id"] for row in exported] == [
        contact
        for (contact,) in _query(
            runs["warehouse"],
            "select contact_id from marts.dim_contact_audience_eligibility "
            f"where contact_id in ({', '.join(repr(c) for c in EXPECTED_AUDIENCE - {'c09'})}) "
            "order by expected_value desc, contact_id",
        )
    ]
    assert exported[0]["email"] == "c08@example.com"  # normalised by staging
    assert exported[0]["first_name"] == "Ann"
    assert exported[0]["offer_tier"] == "gold"  # loyal
