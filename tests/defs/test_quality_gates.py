"""Quality gates: suites, wiring, and each rule's verdict on small hand-made warehouses.

The gate functions are called directly on a DuckDB file built here (fast: no Dagster run, no
dbt); ``test_gate_failures.py`` runs them through the real pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from dagster_project import settings
from dagster_project.definitions import defs
from dagster_project.defs import quality
from dagster_project.defs.quality import checks
from dagster_project.defs.quality.checks import GateSettings, Load
from dagster_project.lib import gates, ingest
from dagster_project.lib.schema import SOURCES

RUN = datetime(2025, 6, 1, 12, 0)  # the run's start, UTC
CFG = GateSettings(data_docs=False)
CONTACTS = [
    # contact_id, email, created_at
    ("c1", "jane.doe@gmail.com", "2025-01-01 00:00"),
    ("c2", "jean.dupont@example.com", "2025-05-01 00:00"),
    ("c3", "marc@orange.fr", "2025-05-30 00:00"),
]
RATE_COLUMN = re.compile(r"(^|_)(rate|share|probability|p_value)(_|$)")
# rate-named columns that are not shares of a whole, so only bounded below (see the suite)
NOT_BOUNDED_BY_ONE: set[tuple[str, str]] = set()


# --- hand-made warehouses -------------------------------------------------------------------


def _insert(con, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    marks = ", ".join("?" * len(columns))
    con.executemany(
        f"insert into {table} ({', '.join(columns)}) values ({marks})",
        [[row[c] for c in columns] for row in rows],
    )


def _contact(contact_id, email, created_at, **extra) -> dict:
    return {
        "contact_id": contact_id,
        "email": email,
        "business_type": "B2C",
        "created_at": created_at,
        "email_consent": True,
        "sms_consent": False,
        "push_consent": False,
        **extra,
    }


def _order(order_id, contact_id="c1", ordered_at="2025-05-31 10:00", amount=10.0, **extra):
    return {
        "order_id": order_id,
        "contact_id": contact_id,
        "ordered_at": ordered_at,
        "amount": amount,
        "currency": "EUR",
        "status": "completed",
        **extra,
    }


def _event(event_id, contact_id="c1", occurred_at="2025-05-31 10:00", event_type="open"):
    return {
        "event_id": event_id,
        "campaign_id": "k1",
        "contact_id": contact_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
    }


def _warehouse(path: Path, staged: dict[str, list[dict]], raw: dict | None = None) -> Path:
    """raw.contacts holds CONTACTS unless ``raw`` says otherwise; ``staged`` the new rows.

    The pipeline's ``staged.<source>`` are views over the landing files; here they are plain
    tables with the same columns, filled by hand (the gates only read them)."""
    raw = {"contacts": [_contact(*c) for c in CONTACTS], **(raw or {})}
    con = duckdb.connect(str(path))
    try:
        ingest.ensure_schemas(con)
        for name in SOURCES:
            con.execute(f"drop view staged.{name}")
            con.execute(f"create table staged.{name} as select * from raw.{name} where false")
        for name, rows in raw.items():
            _insert(con, f"raw.{name}", rows)
        for name, rows in staged.items():
            _insert(con, f"staged.{name}", rows)
    finally:
        con.close()
    return path


def _log_loads(path: Path, source: str, loads: list[int]) -> None:
    con = duckdb.connect(str(path))
    try:
        for day, rows in enumerate(loads, start=1):
            con.execute(
                f"insert into {ingest.LOAD_LOG} (source, file_path, row_count, run_id, loaded_at) "
                "values (?, ?, ?, ?, ?)",
                [source, f"{source}/{day}.csv", rows, f"run{day}", datetime(2025, 5, day)],
            )
    finally:
        con.close()


def _value(result: dg.AssetCheckResult, key: str):
    value = result.metadata[key]
    return getattr(value, "value", value)


def _failed(result: dg.AssetCheckResult) -> list[str]:
    return _value(result, "failed_expectations")


def _outcome(result: dg.AssetCheckResult, label: str) -> dict:
    for outcome in _value(result, "outcomes"):
        if outcome["label"] == label:
            return outcome
    raise KeyError(label)


# --- suites ---------------------------------------------------------------------------------


def test_every_suite_loads_strictly_and_documents_its_parameters():
    names = checks.committed_suites(checks.LANDING_SUITE_PREFIX) + checks.committed_suites(
        checks.MART_SUITE_PREFIX
    )
    assert len(names) >= len(SOURCES) + 6
    for name in names:
        suite = gates.load_suite(name)
        documented = set(suite.meta.get("parameters", {}))
        assert gates.suite_parameter_names(suite) == documented, name
        assert suite.meta["table"].split(".")[0] in ("staged", "marts"), name
        assert suite.meta["owner"].startswith("GX"), name


def test_landing_suites_name_real_columns_of_their_source():
    assert checks.committed_suites(checks.LANDING_SUITE_PREFIX) == sorted(
        checks.landing_suite_name(s) for s in SOURCES
    )
    for source in SOURCES.values():
        suite = gates.load_suite(checks.landing_suite_name(source.name))
        assert suite.meta["table"] == f"staged.{source.name}"
        for expectation in suite.expectations:
            kwargs = expectation.configuration.kwargs
            for column in [kwargs.get("column"), *kwargs.get("column_list", [])]:
                assert column is None or column in source.column_names, (source.name, column)
        # required columns are all checked for nulls, the key for uniqueness
        not_null = {
            e.configuration.kwargs["column"]
            for e in suite.expectations
            if e.expectation_type == "expect_column_values_to_not_be_null"
        }
        assert not_null == set(source.required_columns), source.name


def _mart_columns() -> dict[str, list[str]]:
    models: dict[str, list[str]] = {}
    for path in sorted((settings.DBT_PROJECT_DIR / "models" / "marts").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            models[model["name"]] = [c["name"] for c in model.get("columns") or []]
    return models


def test_every_rate_share_or_probability_column_of_a_mart_is_gated_within_bounds():
    """A new rate column in a mart's YAML fails here until its suite bounds it."""
    for model, columns in _mart_columns().items():
        rates = [c for c in columns if RATE_COLUMN.search(c)]
        if not rates:
            continue
        suite = gates.load_suite(checks.mart_suite_name(model))
        bounded = {
            e.configuration.kwargs["column"]: e.configuration.kwargs
            for e in suite.expectations
            if e.expectation_type == "expect_column_values_to_be_between"
        }
        for column in rates:
            assert column in bounded, f"{model}.{column} has no range expectation"
            kwargs = bounded[column]
            if (model, column) in NOT_BOUNDED_BY_ONE:
                assert kwargs["min_value"] == 0 and "max_value" not in kwargs
                continue
            assert -1 <= kwargs["min_value"] < kwargs["max_value"] <= 1, (model, column)


def test_every_mart_suite_is_wired_to_a_dbt_mart():
    models = {p.stem for p in (settings.DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")}
    wired = {key.path[-1] for key in quality.gated_mart_keys(_dbt_mart_keys())}
    for suite in checks.committed_suites(checks.MART_SUITE_PREFIX):
        model = suite.removeprefix(checks.MART_SUITE_PREFIX)
        assert model in models, f"{suite}: no dbt model {model}"
        assert model in wired, f"{suite}: marts/{model} is not an asset of the dbt project"


def _dbt_mart_keys() -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "marts"]


# --- wiring ---------------------------------------------------------------------------------


def test_gates_are_blocking_checks_in_the_writer_pool_and_the_daily_job_runs_them():
    graph = defs.resolve_asset_graph()
    gate_keys = {k for k in graph.asset_check_keys if k.name.startswith("gx_")}
    expected = {dg.AssetCheckKey(dg.AssetKey(["staged", s]), checks.LANDING_CHECK) for s in SOURCES}
    expected |= {
        dg.AssetCheckKey(dg.AssetKey(["marts", s.removeprefix("mart_")]), checks.MART_CHECK)
        for s in checks.committed_suites(checks.MART_SUITE_PREFIX)
    }
    assert gate_keys == expected
    for key in gate_keys:
        assert graph.get_check_spec(key).blocking, key
    for checks_def in quality.defs.asset_checks:
        assert checks_def.node_def.pool == checks.POOL
    job = defs.resolve_job_def("reveil_daily")
    nodes = set(job.graph.node_names())
    for key in gate_keys:
        step = "__".join(key.asset_key.path) + "_" + key.name
        assert step in nodes, f"the daily job does not run {key.to_user_string()}"


def test_serving_and_publish_wait_for_the_gates():
    """Blocking checks stop the downstream steps: publish_raw depends on the staged assets,
    serving/marts on every gated mart."""
    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        assert (
            dg.AssetKey(["staged", source]) in graph.get(dg.AssetKey(["raw", source])).parent_keys
        )
    serving_parents = graph.get(dg.AssetKey(["serving", "marts"])).parent_keys
    for key in quality.gated_mart_keys(_dbt_mart_keys()):
        assert key in serving_parents


# --- settings -------------------------------------------------------------------------------


def test_settings_resolve_from_overrides_then_environment_then_defaults(tmp_path):
    assert checks.resolve_settings(environ={}) == GateSettings()
    env = {
        "REVEIL_GATE_VOLUME_MIN_RATIO": "0.5",
        "REVEIL_GATE_FRESHNESS_DAYS": "7",
        "REVEIL_GX_DATA_DOCS": "0",
        "REVEIL_GX_DATA_DOCS_DIR": str(tmp_path),
    }
    cfg = checks.resolve_settings({"freshness_days": 2}, environ=env)
    assert cfg.volume_min_ratio == 0.5 and cfg.freshness_days == 2
    assert cfg.data_docs is False and cfg.docs_dir() is None
    assert checks.QualityGateConfig(inactive_share_max=0.5).resolve().inactive_share_max == 0.5
    with pytest.raises(gates.GateInfrastructureError, match="REVEIL_GATE_FRESHNESS_DAYS"):
        checks.resolve_settings(environ={"REVEIL_GATE_FRESHNESS_DAYS": "three"})
    with pytest.raises(gates.GateInfrastructureError, match="inactive share band"):
        checks.resolve_settings({"inactive_share_min": 0.9, "inactive_share_max": 0.1})


def test_cutoffs():
    assert checks.future_cutoff(RUN, CFG) == datetime(2025, 6, 1, 18, 0)
    assert checks.freshness_cutoff(RUN, CFG) == datetime(2025, 5, 29)


@pytest.mark.parametrize(
    ("loads", "band", "reason"),
    [
        ([], None, "first load"),
        ([50_000], None, "initial backfill"),
        ([50_000, 40], None, "below the minimum baseline of 100"),
        ([50_000, 1_000], (200, 5_000), "band 0.2x-5x"),
        ([50_000, 1_000, 300], (60, 1_500), "had 300 rows"),
    ],
)
def test_volume_band_compares_with_the_previous_load_but_never_the_backfill(loads, band, reason):
    previous = [Load(f"run{i}", rows, datetime(2025, 5, 1 + i)) for i, rows in enumerate(loads)]
    got, why = checks.volume_band(previous, CFG)
    assert got == band
    assert reason in why


# --- landing gates --------------------------------------------------------------------------


def test_clean_delivery_passes_and_skips_the_volume_band_on_the_first_loads(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb", {"orders": [_order("o1"), _order("o2", "c2", amount=0)]})
    result = checks.landing_gate("orders", CFG, RUN, database=db)
    assert result.passed, _value(result, "result")
    assert _value(result, "rows_validated") == 2
    skipped = _value(result, "skipped_expectations")
    assert skipped == [
        "expect_table_row_count_to_be_between: first load of this source: no "
        "previous load to compare with"
    ]
    assert "landing_orders" in _value(result, "result")


def test_orders_in_another_currency_than_the_reporting_one_are_refused(tmp_path, monkeypatch):
    """USD orders loaded beside EUR ones were summed into the same revenue without a word (the
    rule only asked for three letters). Case and spaces don't matter; REVEIL_CURRENCY sets the
    reporting currency."""
    staged = [
        _order("o1"),
        _order("o2", currency="eur"),
        _order("o3", currency=" EUR "),
        _order("o4", currency="USD"),
    ]
    db = _warehouse(tmp_path / "w.duckdb", {"orders": staged})
    result = checks.landing_gate("orders", CFG, RUN, database=db)
    assert not result.passed
    assert _failed(result) == ["expect_column_values_to_match_regex(currency)"]
    assert _outcome(result, "expect_column_values_to_match_regex(currency)")["samples"] == ["USD"]
    monkeypatch.setenv("REVEIL_CURRENCY", "usd")
    in_usd = checks.resolve_settings({"data_docs": False})
    assert in_usd.currency == "USD"
    usd_only = _warehouse(tmp_path / "u.duckdb", {"orders": [_order("o4", currency="USD")]})
    assert checks.landing_gate("orders", in_usd, RUN, database=usd_only).passed
    monkeypatch.setenv("REVEIL_CURRENCY", "euro")
    with pytest.raises(gates.GateInfrastructureError, match="REVEIL_CURRENCY"):
        checks.resolve_settings()


def test_each_bad_order_is_named_with_samples(tmp_path):
    staged = [
        _order("o1"),
        _order("o2", amount=-5.0),  # negative amount
        _order("o3", ordered_at="2025-07-01 00:00"),  # future
        _order("o4"),
        _order("o4"),  # duplicate id
        _order("o5", "c3", ordered_at="2025-05-20 00:00"),  # before c3 existed (2025-05-30)
        _order("o6", status="lost"),
    ]
    db = _warehouse(tmp_path / "w.duckdb", {"orders": staged})
    result = checks.landing_gate("orders", CFG, RUN, database=db)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert sorted(_failed(result)) == sorted(
        [
            "expect_column_values_to_be_between(amount)",
            "expect_column_values_to_be_between(ordered_at)",
            "expect_no_unexpected_rows(unique_order_id)",
            "expect_no_unexpected_rows(not_before_contact_created)",
            "expect_column_values_to_be_in_set(status)",
        ]
    )
    assert _outcome(result, "expect_column_values_to_be_between(amount)")["samples"] == ["-5.0"]
    assert _outcome(result, "expect_no_unexpected_rows(unique_order_id)")["samples"] == [
        "order_id=o4 contact_id=c1 ordered_at=2025-05-31T10:00:00",
        "order_id=o4 contact_id=c1 ordered_at=2025-05-31T10:00:00",
    ]
    assert _outcome(result, "expect_column_values_to_be_between(ordered_at)")["samples"] == [
        "2025-07-01T00:00:00"
    ]
    markdown = _value(result, "result")
    assert "rule=Orders not dated on a day before the contact was created" in markdown
    assert "order_id=o5 contact_id=c3 ordered_at=2025-05-20T00:00:00" in markdown
    assert "unexpected_rows_query" not in markdown  # rules shown by description, not SQL
    assert "expect_column_values_to_be_between(amount)" in result.description


@pytest.mark.parametrize(
    ("source", "row", "id_column", "at_column"),
    [
        ("orders", _order, "order_id", "ordered_at"),
        ("email_events", _event, "event_id", "occurred_at"),
    ],
    ids=["orders", "email_events"],
)
def test_not_before_contact_created_compares_days_not_times(
    tmp_path, source, row, id_column, at_column
):
    """c4 is created at 14:00 on 2025-05-30. An export that carries only the date loads its
    rows of that day as 00:00, before 14:00: not flagged (same day). A row of the day before,
    even at 23:59, still is."""
    raw = {
        "contacts": [
            *(_contact(*c) for c in CONTACTS),
            _contact("c4", "late@example.com", "2025-05-30 14:00"),
        ]
    }
    label = "expect_no_unexpected_rows(not_before_contact_created)"
    same_day = row("same_day", "c4", "2025-05-30 00:00")

    db = _warehouse(tmp_path / "same_day.duckdb", {source: [same_day]}, raw=raw)
    result = checks.landing_gate(source, CFG, RUN, database=db)
    assert result.passed, _value(result, "result")

    day_before = row("day_before", "c4", "2025-05-29 23:59")
    db = _warehouse(tmp_path / "day_before.duckdb", {source: [same_day, day_before]}, raw=raw)
    result = checks.landing_gate(source, CFG, RUN, database=db)
    assert _failed(result) == [label]
    assert _outcome(result, label)["unexpected_count"] == 1
    markdown = _value(result, "result")
    assert f"{id_column}=day_before contact_id=c4 {at_column}=2025-05-29T23:59:00" in markdown
    assert f"{id_column}=same_day" not in markdown


def test_orphans_are_tolerated_up_to_one_in_a_thousand(tmp_path):
    def run(orphans: int) -> dg.AssetCheckResult:
        db = _warehouse(tmp_path / f"w{orphans}.duckdb", {})
        with duckdb.connect(str(db)) as con:  # 2 000 events, the first `orphans` unknown
            con.execute(
                "insert into staged.email_events "
                "(event_id, campaign_id, contact_id, event_type, occurred_at) "
                "select if(i < ?, 'x', 'e') || i, 'k1', if(i < ?, 'ghost' || i, 'c1'), 'open', "
                "timestamp '2025-05-31 10:00' from range(2000) as r(i)",
                [orphans, orphans],
            )
        return checks.landing_gate("email_events", CFG, RUN, database=db)

    assert run(2).passed  # 0.1 %
    result = run(3)  # 0.15 %
    assert _failed(result) == ["expect_no_unexpected_rows(known_contacts)"]
    markdown = _value(result, "result")
    assert "rule=Events point to known contacts" in markdown
    assert "event_id=x0 contact_id=ghost0" in markdown
    assert _outcome(result, "expect_no_unexpected_rows(known_contacts)")["unexpected_count"] == 3


def test_contacts_staged_in_the_same_run_are_known(tmp_path):
    db = _warehouse(
        tmp_path / "w.duckdb",
        {
            "contacts": [_contact("c9", "new@example.com", "2025-05-31 08:00")],
            "email_events": [_event("e1", "c9", "2025-05-31 09:00")],
        },
    )
    assert checks.landing_gate("email_events", CFG, RUN, database=db).passed


def _luhn_ok(siret: str) -> bool:
    """Reference Luhn (independent of the SQL in the suite)."""
    total = 0
    for i, char in enumerate(reversed(siret)):
        digit = int(char) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def test_siret_checksum_is_a_threshold_not_a_veto(tmp_path):
    valid, la_poste, invalid = "73282932000074", "35600000000010", "73282932000075"
    assert _luhn_ok(valid) and not _luhn_ok(invalid)
    assert not _luhn_ok(la_poste) and sum(map(int, la_poste)) % 5 == 0  # La Poste's rule

    def run(sirets: list[str | None]) -> dg.AssetCheckResult:
        rows = [
            _contact(f"n{i}", f"n{i}@example.com", "2025-05-01 00:00", siret=siret)
            for i, siret in enumerate(sirets)
        ]
        db = _warehouse(tmp_path / f"w{len(sirets)}.duckdb", {"contacts": rows})
        return checks.landing_gate("contacts", CFG, RUN, database=db)

    # 1 invalid of 10 SIRETs (10 %: tolerated), B2C contacts without SIRET do not count
    assert run([valid] * 8 + [la_poste, invalid] + [None] * 5).passed
    # 2 of 10 (20 %, a broken feed): every invalid SIRET is listed, even non-digits
    result = run([valid] * 8 + [invalid, "7328293200007A"])
    assert _failed(result) == ["expect_no_unexpected_rows(siret_checksum)"]
    markdown = _value(result, "result")
    assert "siret=73282932000075" in markdown and "siret=7328293200007A" in markdown


def test_malformed_emails_fail_and_samples_are_masked(tmp_path):
    good = ["jane.doe@gmail.com", " Marc.Dupont@Orange.FR ", "a+b@sub.example.co"]
    # the generator's five malformations: '@@', no '@', no TLD, trailing dot, no domain
    bad = ["jean@@example.com", "jean example.com", "jean@example", "jean@example.com.", "jean@"]
    rows = [_contact(f"n{i}", email, "2025-05-01 00:00") for i, email in enumerate(good + bad)]
    db = _warehouse(tmp_path / "w.duckdb", {"contacts": rows})
    result = checks.landing_gate("contacts", CFG, RUN, database=db)
    assert _failed(result) == ["expect_column_values_to_match_regex(email)"]
    outcome = _outcome(result, "expect_column_values_to_match_regex(email)")
    assert outcome["unexpected_count"] == len(bad)
    assert outcome["samples"][0] == "j***@e***.com"
    assert "jean" not in json.dumps(_value(result, "outcomes"))
    assert "jean" not in _value(result, "result")


def test_freshness_of_the_newest_event(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb", {"email_events": [_event("e1", "c1", "2025-05-25")]})
    result = checks.landing_gate("email_events", CFG, RUN, database=db)
    assert _failed(result) == ["expect_column_max_to_be_between(occurred_at)"]
    relaxed = GateSettings(data_docs=False, freshness_days=7)
    assert checks.landing_gate("email_events", relaxed, RUN, database=db).passed


def test_a_day_without_delivery_passes_but_a_stale_feed_warns(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb", {}, raw={"email_events": [_event("e1")]})
    fresh = checks.landing_gate("email_events", CFG, RUN, database=db)
    assert fresh.passed and _value(fresh, "rows_validated") == 0
    assert checks.landing_gate("orders", CFG, RUN, database=db).passed
    later = RUN + timedelta(days=10)
    stale = checks.landing_gate("email_events", CFG, later, database=db)
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.WARN  # reported, not blocking
    assert "stale" in stale.description


def test_volume_band_from_the_load_log(tmp_path):
    def run(staged_rows: int, day: int = 1_000) -> dg.AssetCheckResult:
        db = _warehouse(
            tmp_path / f"w{staged_rows}.duckdb",
            {"orders": [_order(f"o{i}") for i in range(staged_rows)]},
        )
        _log_loads(db, "orders", [20_000, day])  # backfill, then a day of `day` rows
        return checks.landing_gate("orders", CFG, RUN, database=db)

    assert run(300).passed
    low = run(150)
    assert _failed(low) == ["expect_table_row_count_to_be_between()"]
    assert "band 0.2x-5x" in _value(low, "volume_baseline")
    # the message says by how much, and how to let a legitimate delivery through once
    assert "(150 rows staged, 0.15x the 1,000 of the previous load, band 0.2x-5x" in (
        low.description
    )
    assert "REVEIL_GATE_VOLUME_MIN_RATIO=0.15 make run" in low.description
    high = run(650, day=100)  # a full re-export after daily deltas
    assert "650 rows staged, 6.5x the 100 of the previous load" in high.description
    assert "REVEIL_GATE_VOLUME_MAX_RATIO=7 make run" in high.description
    relaxed = dataclasses.replace(CFG, volume_max_ratio=7)
    db = tmp_path / "w650.duckdb"
    assert checks.landing_gate("orders", relaxed, RUN, database=db).passed


# --- mart gates -----------------------------------------------------------------------------


def _inactivity_mart(path: Path, statuses: list[str], as_of: str = "2025-05-31") -> Path:
    _warehouse(path, {})
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_contact_inactivity (as_of_date date, contact_id varchar, "
            "inactivity_status varchar, inactive_since_date date)"
        )
        for i, status in enumerate(statuses):
            since = "2025-01-01" if status in ("inactive", "lost") else None
            con.execute(
                "insert into marts.dim_contact_inactivity values (?, ?, ?, ?)",
                [as_of, f"c{i + 1}", status, since],
            )
    finally:
        con.close()
    return path


def test_inactivity_mart_counts_every_contact_once_and_a_plausible_inactive_share(tmp_path):
    db = _inactivity_mart(tmp_path / "w.duckdb", ["active", "lost", "at_risk"])
    result = checks.mart_gate("dim_contact_inactivity", CFG, database=db)
    assert result.passed, _value(result, "result")
    assert _value(result, "parameters")["raw_contact_count"] == "3"

    impossible = GateSettings(data_docs=False, inactive_share_min=0.9, inactive_share_max=1.0)
    result = checks.mart_gate("dim_contact_inactivity", impossible, database=db)
    assert _failed(result) == [
        "expect_column_proportion_of_non_null_values_to_be_between(inactive_since_date)"
    ]

    missing_one = _inactivity_mart(tmp_path / "w2.duckdb", ["active", "lost"])
    result = checks.mart_gate("dim_contact_inactivity", CFG, database=missing_one)
    assert _failed(result) == ["expect_table_row_count_to_equal()"]

    # a snapshot of 2025-05-15 does not know c3 (created 2025-05-30)
    past = _inactivity_mart(tmp_path / "w3.duckdb", ["active", "lost"], as_of="2025-05-15")
    result = checks.mart_gate("dim_contact_inactivity", CFG, database=past)
    assert result.passed and _value(result, "parameters")["raw_contact_count"] == "2"


def test_a_rate_out_of_bounds_fails(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb", {})
    con = duckdb.connect(str(db))
    con.execute("create schema marts")
    con.execute("create table marts.rpt_campaign_complaint_rates (complaint_rate double)")
    con.execute("insert into marts.rpt_campaign_complaint_rates values (0.001), (1.5), (null)")
    con.close()
    result = checks.mart_gate("rpt_campaign_complaint_rates", CFG, database=db)
    assert _failed(result) == ["expect_column_values_to_be_between(complaint_rate)"]
    assert _outcome(result, "expect_column_values_to_be_between(complaint_rate)")["samples"] == [
        "1.5"
    ]


def _difference_mart(path: Path, model: str, key: str, rows: list[tuple]) -> Path:
    """marts.<model> with the columns its suite reads; rows: (key, difference, lower, upper)."""
    rates = {
        "rpt_reactivation_ab_tests": ("variant_a_conversion_rate", "variant_b_conversion_rate"),
        "rpt_audience_lift": ("treated_conversion_rate", "holdout_conversion_rate"),
    }[model]
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            f"create table marts.{model} ({key} varchar, {rates[0]} double, {rates[1]} double, "
            "p_value double, conversion_rate_difference double, difference_lower_95 double, "
            "difference_upper_95 double)"
        )
        con.executemany(
            f"insert into marts.{model} values (?, 0.5, 0.5, 0.5, ?, ?, ?)", [list(r) for r in rows]
        )
    finally:
        con.close()
    return path


@pytest.mark.parametrize(
    ("model", "key"),
    [("rpt_reactivation_ab_tests", "reactivation_step"), ("rpt_audience_lift", "lift_row_id")],
)
def test_difference_intervals_are_gated_within_bounds_and_around_the_difference(
    tmp_path, model, key
):
    # Newcombe intervals (1/10 vs 9/10, 0/n vs 0/n, n/n vs 0/n) and a group without contacts
    good = [
        ("1", 0.8, 0.369867, 0.916141),
        ("2", 0.0, -0.071348, 0.071348),
        ("3", -1.0, -1.0, -0.657062),
        ("4", None, None, None),
    ]
    db = _difference_mart(tmp_path / "good.duckdb", model, key, good)
    result = checks.mart_gate(model, CFG, database=db)
    assert result.passed, _value(result, "result")

    # the Wald interval of 1/10 vs 9/10 (1.063: the gate failure that blocked every mart),
    # and bounds that do not hold their difference
    bad = [*good, ("5", 0.8, 0.537043, 1.062957), ("6", 0.2, 0.25, 0.4), ("7", 0.2, 0.1, 0.15)]
    db = _difference_mart(tmp_path / "bad.duckdb", model, key, bad)
    result = checks.mart_gate(model, CFG, database=db)
    assert _failed(result) == [
        "expect_column_values_to_be_between(difference_upper_95)",
        "expect_no_unexpected_rows(interval_holds_difference)",
    ]
    assert _outcome(result, "expect_column_values_to_be_between(difference_upper_95)")[
        "samples"
    ] == ["1.062957"]


# --- infrastructure and Data Docs -----------------------------------------------------------


def test_a_gate_that_cannot_run_is_an_infrastructure_failure_not_a_verdict(tmp_path):
    db = _warehouse(tmp_path / "w.duckdb", {})  # no marts schema at all
    with pytest.raises(dg.Failure) as failure:
        checks.mart_gate("rpt_reactivation_kpis", CFG, database=db)
    assert failure.value.description.startswith(checks.INFRASTRUCTURE_PREFIX)
    assert "not found" in failure.value.description
    with pytest.raises(dg.Failure, match="does not exist"):
        checks.landing_gate("orders", CFG, RUN, database=tmp_path / "missing.duckdb")


def test_data_docs_link_and_pruning(tmp_path):
    docs = tmp_path / "docs"
    cfg = GateSettings(data_docs=True, data_docs_dir=docs, data_docs_keep=2)
    db = _warehouse(tmp_path / "w.duckdb", {"orders": [_order("o1")]})
    for _ in range(3):
        result = checks.landing_gate("orders", cfg, RUN, database=db)
    index = Path(_value(result, "data_docs"))
    assert index == docs / gates.DATA_DOCS_SITE_NAME / "index.html" and index.is_file()
    assert Path(_value(result, "data_docs_validation")).is_file()
    stored = list((docs / "validations" / "landing_orders").glob("*/*"))
    assert len(stored) == 2  # the newest two, the oldest pruned
    assert len(list((docs / gates.DATA_DOCS_SITE_NAME / "validations").rglob("*.html"))) == 2
