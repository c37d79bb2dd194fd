"""gates.run_suite: verdicts, masking, infrastructure errors, docs, and releasing the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from datetime import datetime

import duckdb
import great_expectations as gx
import pytest

from dagster_project import settings
from dagster_project.lib import gates
from dagster_project.lib.gates import GateInfrastructureError, run_suite
from dagster_project.lib.schema import ORDERS

RUN_STARTED_AT = datetime(2025, 6, 1, 12, 0)
ORDERS_ROWS = [
    ("o1", "c1", "2025-05-01 10:00", 10.50, "EUR", "completed"),
    ("o2", "c2", "2025-05-02 11:00", 99.00, "EUR", "refunded"),
    ("o3", "c3", "2025-05-03 12:00", 5.00, "EUR", "cancelled"),
    ("o4", "c1", "2025-05-31 23:59", 42.00, "EUR", "completed"),
    # the one bad row: unknown status
    ("o5", "c4", "2025-05-05 09:00", 12.00, "EUR", "lost"),
]


def _create(path, ddl_and_rows: dict[str, tuple[str, list[tuple]]]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for table, (columns, rows) in ddl_and_rows.items():
            con.execute(f"CREATE TABLE {table} ({columns})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    finally:
        con.close()


def _ddl(source) -> str:
    return ", ".join(f"{c.name} {c.type}" for c in source.columns)


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    _create(
        path,
        {
            "raw.orders": (_ddl(ORDERS), ORDERS_ROWS),
            "raw.contacts": (
                "contact_id VARCHAR, email VARCHAR, first_name VARCHAR",
                [
                    ("c1", "jane.doe@gmail.com", "Jane"),
                    ("c2", "jean.dupont@example.com", "Jean"),
                    ("c3", "marc@orange.fr", None),
                ],
            ),
        },
    )
    return path


# --- the committed example suite, end to end ---------------------------------------------


def test_example_orders_suite_flags_the_bad_row(warehouse):
    result = run_suite(
        warehouse,
        "raw.orders",
        "raw_orders",
        parameters={"run_started_at": RUN_STARTED_AT},
        pii_columns=("status",),  # pretend status were personal, to see it masked
    )
    assert result.success is False
    assert [e.expectation_type for e in result.failed] == ["expect_column_values_to_be_in_set"]
    failed = result.failed[0]
    assert failed.column == "status"
    assert failed.unexpected_count == 1
    assert failed.unexpected_percent == pytest.approx(20.0)
    assert failed.element_count == 5
    assert failed.sample_unexpected == ("l***",)
    assert failed.kwargs == {"value_set": ["completed", "refunded", "cancelled"]}
    assert len(result.expectations) == 5
    assert result.elapsed_seconds > 0
    assert result.data_docs_path is None
    summary = result.summary()
    assert summary["failed"] == 1 and summary["evaluated"] == 5
    assert summary["failed_expectations"] == ["expect_column_values_to_be_in_set(status)"]
    json.dumps(summary)


def test_example_orders_suite_parameter_is_applied_at_run_time(warehouse):
    # a run that started before the last order: that order is "in the future"
    result = run_suite(
        warehouse,
        "raw.orders",
        "raw_orders",
        parameters={"run_started_at": datetime(2025, 5, 31)},
    )
    by_column = {(e.expectation_type, e.column): e for e in result.failed}
    future = by_column[("expect_column_values_to_be_between", "ordered_at")]
    assert future.unexpected_count == 1
    assert future.sample_unexpected == ("2025-05-31T23:59:00",)
    assert future.kwargs == {"max_value": "2025-05-31T00:00:00"}


def test_row_filter_validates_only_the_selected_rows(warehouse):
    result = run_suite(
        warehouse,
        "raw.orders",
        "raw_orders",
        parameters={"run_started_at": RUN_STARTED_AT},
        row_filter="status <> 'lost'",
    )
    assert result.success is True
    assert result.rows_validated == 4
    assert "where `status <> 'lost'`" in result.to_markdown()


def test_committed_suite_loads_strictly():
    suite = gates.load_suite("raw_orders")
    assert len(suite.expectations) == 5
    assert gates.suite_parameter_names(suite) == {"run_started_at"}


# --- masking -------------------------------------------------------------------------------


def test_personal_columns_from_schema_are_masked(warehouse):
    result = run_suite(
        warehouse,
        "raw.contacts",
        "contacts_demo",
        [
            gx.expectations.ExpectColumnValuesToNotMatchRegex(column="email", regex="@example"),
            gx.expectations.ExpectColumnValuesToMatchRegex(column="first_name", regex="^J"),
            gx.expectations.ExpectColumnValuesToBeInSet(column="contact_id", value_set=["c1"]),
        ],
    )
    email, first_name, contact_id = result.expectations
    assert email.sample_unexpected == ("j***@e***.com",)
    assert first_name.success is True
    # not personal: shown as is
    assert sorted(contact_id.sample_unexpected) == ["c2", "c3"]
    assert "jean.dupont" not in result.to_markdown()


def test_emails_and_phones_are_masked_in_any_column(tmp_path):
    """An email or a phone in a column that holds no personal data (an export mapped wrongly:
    emails in `status`) reached the check's samples, Dagster's event log and the Data Docs."""
    path = tmp_path / "w.duckdb"
    _create(
        path,
        {
            "raw.orders": (
                "order_id VARCHAR, status VARCHAR",
                [
                    ("o1", "completed"),
                    ("o2", "lost.customer@example.org"),
                    ("o3", "+33 6 12 34 56 78"),
                    ("o4", "pending"),
                ],
            )
        },
    )
    docs = tmp_path / "docs"
    in_set = gx.expectations.ExpectColumnValuesToBeInSet(column="status", value_set=["completed"])
    result = run_suite(path, "raw.orders", "status_docs", [in_set], data_docs_dir=docs)
    (status,) = result.expectations
    assert sorted(status.sample_unexpected) == ["+***", "l***@e***.org", "pending"]
    written = [p.read_text() for p in docs.rglob("*") if p.suffix in (".html", ".json")]
    assert written and not any("lost.customer" in t or "12 34 56" in t for t in written)
    assert any("pending" in text for text in written)  # a plain word is still shown


@pytest.mark.parametrize(
    ("value", "personal"),
    [
        ("a.b@example.org", True),
        ("+33 6 12 34 56 78", True),
        ("C0000254", False),  # a contact id
        ("73282932000074", False),  # a SIRET
        ("completed", False),
        ({"order_id": "o1", "email": "x@y.fr"}, True),
        (12, False),
    ],
)
def test_looks_personal(value, personal):
    assert gates.looks_personal(value) is personal


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("john.doe@gmail.com", "j***@g***.com"),
        ("a@b", "a***@b***"),
        ("Jeanne", "J***"),
        ("+33612345678", "+***"),
        (12345, "***"),
        (None, None),
        ("", ""),
    ],
)
def test_mask_value(value, masked):
    assert gates.mask_value(value) == masked


def test_pii_columns_come_from_schema():
    assert gates.pii_columns_for("raw.contacts") == {"email", "first_name", "last_name", "phone"}
    assert gates.pii_columns_for("raw.orders") == frozenset()
    assert gates.pii_columns_for("marts.contacts") == frozenset()


# --- inputs --------------------------------------------------------------------------------


def test_expectation_objects_and_suites_are_accepted_and_left_untouched(warehouse):
    not_null = gx.expectations.ExpectColumnValuesToNotBeNull(column="order_id")
    rows = gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=3)
    first = run_suite(warehouse, "raw.orders", "adhoc", [not_null, rows])
    assert not_null.id is None
    second = run_suite(
        warehouse, "raw.orders", "adhoc2", gx.ExpectationSuite(name="x", expectations=[rows])
    )
    assert first.success is second.success is False
    assert first.expectations[1].observed_value == 5
    assert "observed=5" in first.to_markdown()


def test_markdown_is_a_compact_table(warehouse):
    result = run_suite(
        warehouse,
        "raw.orders",
        "md",
        [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="order_id"),
            gx.expectations.ExpectColumnValuesToMatchRegex(column="currency", regex="^(USD|GBP)$"),
        ],
    )
    lines = result.to_markdown().splitlines()
    assert lines[0].startswith("**md** on `raw.orders`, 5 rows: FAILED (1/2 expectations")
    assert lines[2] == "| | expectation | column | checks | unexpected | % | samples |"
    assert lines[4].startswith("| ✅ | column_values_to_not_be_null | order_id |")
    # the | of the regex is escaped so the table keeps its shape
    assert lines[5].startswith(
        "| ❌ | column_values_to_match_regex | currency | regex=^(USD\\|GBP)$"
    )
    assert lines[5].endswith("| 5 | 100 | EUR, EUR, EUR, EUR, EUR |")


# --- infrastructure failures are not data failures ------------------------------------------


NOT_NULL = [gx.expectations.ExpectColumnValuesToNotBeNull(column="order_id")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "raw.missing"}, 'table "raw"."missing" not found'),
        ({"table": "nope.orders"}, 'table "nope"."orders" not found'),
        ({"table": "a.b.c"}, "table must be 'schema.table'"),
        (
            {"expectations": [gx.expectations.ExpectColumnValuesToNotBeNull(column="nope")]},
            r'expect_column_values_to_not_be_null\(nope\) could not be computed: .*"nope"',
        ),
        ({"row_filter": "nope > 1"}, "invalid row_filter 'nope > 1'"),
        ({"suite_name": "raw_orders", "expectations": None}, r"needs parameter\(s\)"),
        ({"suite_name": "no_such_suite", "expectations": None}, "no suite 'no_such_suite'"),
    ],
    ids=[
        "missing-table",
        "missing-schema",
        "bad-table-name",
        "missing-column",
        "bad-filter",
        "missing-parameter",
        "missing-suite",
    ],
)
def test_infrastructure_errors_raise(warehouse, kwargs, message):
    call = {"table": "raw.orders", "suite_name": "s", "expectations": NOT_NULL, **kwargs}
    with pytest.raises(GateInfrastructureError, match=message):
        run_suite(warehouse, **call)


def test_missing_database_raises(tmp_path):
    with pytest.raises(GateInfrastructureError, match="does not exist"):
        run_suite(tmp_path / "nope.duckdb", "raw.orders", "s", NOT_NULL)


def test_writer_lock_raises(warehouse):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.read()",
            str(warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GateInfrastructureError, match="Could not set lock"):
            run_suite(warehouse, "raw.orders", "s", NOT_NULL)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def test_unparseable_suite_raises(tmp_path):
    (tmp_path / "broken.json").write_text(
        json.dumps(
            {
                "name": "broken",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
                    {"type": "expect_no_such_thing", "kwargs": {"column": "a"}},
                ],
            }
        )
    )
    with pytest.raises(GateInfrastructureError, match="could not be parsed|invalid"):
        gates.load_suite("broken", tmp_path)


def test_unique_key_query_groups_a_hash_then_rechecks_the_exact_keys():
    query = gates.unique_key_query(["order_id", "line_number"])
    assert "select hash(order_id, line_number) as key_hash" in query
    assert "group by order_id, line_number having count(*) > 1" in query
    with pytest.raises(ValueError, match="must include the key"):
        gates.unique_key_query(["order_id"], ["contact_id"])


@pytest.mark.parametrize(
    ("suite", "rule_id", "key"),
    [
        ("landing_email_events", "unique_event_id", ["event_id"]),
        ("landing_orders", "unique_order_id", ["order_id"]),
        ("landing_order_lines", "unique_order_line", ["order_id", "line_number"]),
    ],
)
def test_committed_key_checks_are_written_by_unique_key_query(suite, rule_id, key):
    (check,) = [e for e in gates.load_suite(suite).expectations if e.meta.get("rule_id") == rule_id]
    assert check.meta["unique_key"] == key
    assert check.unexpected_rows_query == gates.unique_key_query(
        key, check.meta.get("shown_columns")
    )


def test_unique_key_placeholder_without_key_is_refused(tmp_path):
    (tmp_path / "nokey.json").write_text(
        json.dumps(
            {
                "name": "nokey",
                "expectations": [
                    {
                        "type": "unexpected_rows_expectation",
                        "kwargs": {"unexpected_rows_query": gates.UNIQUE_KEY_QUERY},
                        "meta": {"rule_id": "unique_x"},
                    }
                ],
            }
        )
    )
    with pytest.raises(GateInfrastructureError, match="meta.unique_key"):
        gates.load_suite("nokey", tmp_path)


# --- expect_no_unexpected_rows: GX's SQL rule, its query run once when it finds nothing ----

# the rows of raw.orders with an unknown status; the marker tells this query's executions apart
UNKNOWN_STATUS = (
    "select order_id, status from {batch} "
    "where status not in ('completed', 'refunded', 'cancelled') /* reveil-marker */"
)


@pytest.fixture
def statements():
    """Every SQL statement SQLAlchemy sends to DuckDB while the test runs."""
    import sqlalchemy as sa

    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listener)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", listener)


def _rule(kind: str, query: str):
    from dagster_project.lib.gx_no_unexpected_rows import ExpectNoUnexpectedRows

    cls = ExpectNoUnexpectedRows if kind == "ours" else gx.expectations.UnexpectedRowsExpectation
    return cls(unexpected_rows_query=query, description="status is known")


@pytest.mark.parametrize(("kind", "executions"), [("ours", 1), ("gx", 2)])
def test_a_passing_sql_rule_runs_its_query_once(warehouse, statements, kind, executions):
    """GX's own type computes the query twice (count, then rows); ours only counts when the
    count is 0. The GX case shows what the test would catch."""
    passing = UNKNOWN_STATUS.replace("where", "where order_id <> 'o5' and")
    result = run_suite(warehouse, "raw.orders", f"once_{kind}", [_rule(kind, passing)])
    assert result.success
    assert len([s for s in statements if "reveil-marker" in s]) == executions


def test_a_failing_sql_rule_reports_as_gx_does(warehouse, tmp_path):
    docs = tmp_path / "docs"
    ours = run_suite(
        warehouse, "raw.orders", "ours", [_rule("ours", UNKNOWN_STATUS)], data_docs_dir=docs
    )
    theirs = run_suite(warehouse, "raw.orders", "theirs", [_rule("gx", UNKNOWN_STATUS)])
    (mine,), (gx_outcome,) = ours.expectations, theirs.expectations
    assert mine.expectation_type == gates.NO_UNEXPECTED_ROWS_TYPE
    assert not mine.success and not gx_outcome.success
    assert mine.observed_value == gx_outcome.observed_value == 1  # o5, status "lost"
    assert mine.kwargs == gx_outcome.kwargs
    # GX renders the custom type's page with the parent's renderers
    pages = [p.read_text() for p in docs.rglob("*.html") if "validations" in p.parts]
    assert len(pages) == 1 and "status is known" in pages[0]


def test_committed_sql_rules_use_the_counted_first_type():
    for path in gates.suites_dir().glob("*.json"):
        types = {e["type"] for e in json.loads(path.read_text())["expectations"]}
        assert "unexpected_rows_expectation" not in types, path.name


# --- side effects: the file is released, the committed folder untouched, docs built --------


def test_file_is_released_for_the_writer(warehouse):
    run_suite(warehouse, "raw.orders", "s", NOT_NULL)
    run_suite(warehouse, "raw.orders", "s", NOT_NULL, row_filter="amount > 0")
    with pytest.raises(GateInfrastructureError):
        run_suite(warehouse, "raw.orders", "s", [NOT_NULL[0].copy(update={"column": "nope"})])
    # another process can take the write lock right away ...
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
            "\"INSERT INTO raw.orders VALUES ('o9','c9','2025-01-01',1,'EUR','completed')\")",
            str(warehouse),
        ],
        check=True,
        timeout=60,
    )
    # ... and so can this one (an open read-only connection here would refuse read-write)
    con = duckdb.connect(str(warehouse))
    con.close()


def _tree(root):
    return {
        p: p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and "uncommitted" not in p.parts
    }


def test_committed_expectations_folder_is_not_written(warehouse):
    before = _tree(settings.EXPECTATIONS_DIR)
    run_suite(warehouse, "raw.orders", "raw_orders", parameters={"run_started_at": RUN_STARTED_AT})
    assert _tree(settings.EXPECTATIONS_DIR) == before


def test_data_docs(warehouse, tmp_path):
    docs = tmp_path / "docs"
    first = run_suite(
        warehouse,
        "raw.orders",
        "raw_orders",
        parameters={"run_started_at": RUN_STARTED_AT},
        data_docs_dir=docs,
    )
    second = run_suite(warehouse, "raw.contacts", "contacts_demo", NOT_NULL[:0], data_docs_dir=docs)
    assert first.data_docs_path == second.data_docs_path == docs / "local_site" / "index.html"
    index = first.data_docs_path.read_text()
    # the index keeps earlier runs: validation results are stored next to the site
    assert "raw_orders" in index and "contacts_demo" in index
    assert "Data Docs: `" in first.to_markdown()


def test_data_docs_render_only_the_new_validation(warehouse, tmp_path, monkeypatch):
    """A gate renders its own validation page and the index, not again every page of the
    earlier runs kept in the store (GX's default: 1, 2, 3... pages per gate, a cost that
    would grow every day); the index lists the newest DATA_DOCS_INDEX_LIMIT results."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    rendered = []
    original = ValidationResultsPageRenderer.render

    def counting_render(self, validation_results, *args, **kwargs):
        rendered.append(validation_results.suite_name)
        return original(self, validation_results, *args, **kwargs)

    monkeypatch.setattr(ValidationResultsPageRenderer, "render", counting_render)
    docs = tmp_path / "docs"
    for suite in ("orders_first", "orders_second", "orders_third"):
        run_suite(warehouse, "raw.orders", suite, NOT_NULL, data_docs_dir=docs)
    assert rendered == ["orders_first", "orders_second", "orders_third"]
    assert len(list((docs / "local_site" / "validations").rglob("*.html"))) == 3
    monkeypatch.setattr(gates, "DATA_DOCS_INDEX_LIMIT", 1)
    run_suite(warehouse, "raw.orders", "orders_fourth", NOT_NULL, data_docs_dir=docs)
    index = (docs / "local_site" / "index.html").read_text()
    assert "orders_fourth" in index and "orders_third" not in index


def test_data_docs_templates_compiled_once_per_process(warehouse, tmp_path, monkeypatch):
    """GX renders the pages with our views: the second build compiles no template (its
    bytecode comes from the shared cache) and its pages are the same."""
    import jinja2

    from dagster_project.lib.gx_data_docs_views import BYTECODE_CACHE

    BYTECODE_CACHE.clear()
    compiled = []
    original = jinja2.Environment.compile

    def counting_compile(self, source, *args, **kwargs):
        compiled.append(args[0] if args else kwargs.get("name"))
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)

    def build(docs):
        run_suite(warehouse, "raw.orders", "orders_docs", NOT_NULL, data_docs_dir=docs)
        return sorted(p.relative_to(docs) for p in (docs / "local_site").rglob("*.html"))

    first = build(tmp_path / "first")
    assert compiled, "GX did not render through jinja2.Environment.compile"
    compiled.clear()
    second = build(tmp_path / "second")
    assert [name for name in compiled if name and name.endswith(".j2")] == []
    assert len(first) == len(second) >= 2  # index and the validation page


def test_data_docs_mask_personal_values(warehouse, tmp_path):
    docs = tmp_path / "docs"
    regex = gx.expectations.ExpectColumnValuesToNotMatchRegex(column="email", regex="@example")
    run_suite(warehouse, "raw.contacts", "contacts_docs", [regex], data_docs_dir=docs)
    written = [p.read_text() for p in docs.rglob("*") if p.suffix in (".html", ".json")]
    assert written and not any("jean.dupont" in text for text in written)
    assert any("j***@e***.com" in text for text in written)


def test_default_data_docs_dir_is_git_ignored_uncommitted():
    assert gates.default_data_docs_dir() == settings.EXPECTATIONS_DIR / "uncommitted" / "data_docs"


# --- measurement (opt-in) -----------------------------------------------------------------


BENCH = textwrap.dedent(
    """
    import json, resource, sys, time
    import great_expectations as gx
    from dagster_project.lib import gates
    e = gx.expectations
    expectations = [
        e.ExpectColumnValuesToNotBeNull(column="order_id"),
        e.ExpectColumnValuesToBeUnique(column="order_id"),
        e.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=10000),
        e.ExpectColumnValuesToBeInSet(
            column="status", value_set=["completed", "refunded", "cancelled"]),
        e.ExpectColumnValuesToMatchRegex(column="contact_id", regex="^c[0-9]+$"),
    ]
    started = time.perf_counter()
    result = gates.run_suite(sys.argv[1], "raw.big", "bench", expectations)
    wall = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH", json.dumps({"success": result.success, "wall_s": wall, "rss_mb": rss}))
    """
)


@pytest.mark.skipif(
    not os.environ.get("REVEIL_BENCH_GATES"), reason="set REVEIL_BENCH_GATES=1 to measure"
)
def test_benchmark_10m_rows(tmp_path):
    db = tmp_path / "big.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA raw")
    con.execute(
        """CREATE TABLE raw.big AS
        SELECT 'o' || i AS order_id, (i % 100000) / 10.0 AS amount,
               ['completed', 'refunded', 'cancelled'][1 + (i % 3)::INT] AS status,
               'c' || (i % 1000000) AS contact_id
        FROM range(10000000) r(i)"""
    )
    con.close()
    out = subprocess.run(
        [sys.executable, "-c", BENCH, str(db)],
        check=True,
        capture_output=True,
        text=True,
        cwd=settings.PROJECT_ROOT,
        timeout=300,
    ).stdout
    numbers = json.loads(next(x for x in out.splitlines() if x.startswith("BENCH "))[6:])
    warnings.warn(f"gates 10M rows, 5 expectations: {numbers}", stacklevel=1)
    assert numbers["success"] is True
    assert numbers["wall_s"] < 30  # loose: the machine is shared; see the report for numbers
    assert numbers["rss_mb"] < 3000


def test_index_columns_identify_the_failing_rows_and_never_carry_personal_values(
    warehouse, tmp_path
):
    """With index columns, a failed column expectation says which rows failed (for the
    landing gates: key and source file); the checked value stays out of them when personal,
    in the result and in the Data Docs (SUMMARY stores the rows with the value)."""
    docs = tmp_path / "docs"
    result = run_suite(
        warehouse,
        "raw.contacts",
        "contacts_index",
        [
            email_regex(),
            gx.expectations.ExpectColumnValuesToBeInSet(column="contact_id", value_set=["c1"]),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="contact_id"),
        ],
        index_columns=("contact_id",),
        data_docs_dir=docs,
    )
    email, contact_id, not_null = result.expectations
    assert email.sample_rows == ({"contact_id": "c2"},)
    assert email.sample_unexpected == ("j***@e***.com",)
    assert sorted(r["contact_id"] for r in contact_id.sample_rows) == ["c2", "c3"]
    assert not_null.success and not_null.sample_rows == ()
    written = [p.read_text() for p in docs.rglob("*") if p.suffix in (".html", ".json")]
    assert written and not any("jean.dupont" in text for text in written)
    # without index columns (the mart gates): no rows, as before
    plain = run_suite(warehouse, "raw.contacts", "contacts_plain", [email_regex()])
    assert plain.expectations[0].sample_rows == ()


def email_regex():
    return gx.expectations.ExpectColumnValuesToNotMatchRegex(column="email", regex="@example")
