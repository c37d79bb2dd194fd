"""Keyed hashes in DuckDB SQL equal Python's hmac; keys; the ingestion row filters."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest

from dagster_project.lib import privacy

EMAILS = ["ann@example.com", "  Ann@Example.COM ", "zoë.müller@exämple.de", "", "x" * 300]
KEYS = [
    b"k",
    "test-key-not-secret",
    b"\x00\xff" * 32,  # exactly one block
    b"a-key-longer-than-the-64-byte-block-of-sha256-is-hashed-first-" * 3,
]


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("key", KEYS)
def test_hmac_sql_equals_python_hmac(con, key):
    hmac_key = privacy.hmac_key(key)
    raw = key.encode() if isinstance(key, str) else key
    con.execute("create table emails (email varchar)")
    con.executemany("insert into emails values (?)", [[e] for e in EMAILS])
    rows = con.execute(
        f"select email, {privacy.hmac_sql('email')}, {privacy.email_hmac_sql('email')} from emails",
        hmac_key.params,
    ).fetchall()
    assert len(rows) == len(EMAILS)
    for email, plain, normalised in rows:
        assert plain == hmac.new(raw, email.encode(), hashlib.sha256).hexdigest()
        expected = hmac.new(raw, email.strip(" ").lower().encode(), hashlib.sha256).hexdigest()
        assert normalised == expected == privacy.email_hmac_hex(raw, email)


def test_normalisation_makes_case_and_spaces_irrelevant(con):
    params = privacy.hmac_key("k").params
    sql = privacy.email_hmac_sql("$email")
    first = con.execute(f"select {sql}", {**params, "email": "Ann@Example.com"}).fetchone()[0]
    second = con.execute(f"select {sql}", {**params, "email": "  ann@example.COM  "}).fetchone()
    assert first == second[0]
    assert privacy.normalise_email("  Ann@Example.COM ") == "ann@example.com"


def test_contact_pseudonym(con):
    key = privacy.hmac_key("k")
    pseudonym = con.execute(
        f"select {privacy.contact_pseudonym_sql('$id')}", {**key.params, "id": "C42"}
    ).fetchone()[0]
    digest = hmac.new(b"k", b"contact:C42", hashlib.sha256).hexdigest()
    assert pseudonym == "purged:" + digest[:16]


def test_null_email_hashes_to_null(con):
    key = privacy.hmac_key("k")
    sql = f"select {privacy.email_hmac_sql('cast(null as varchar)')}"
    assert con.execute(sql, key.params).fetchone()[0] is None


def test_key_from_env_and_dev_key(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "secret")
    key = privacy.suppression_key()
    assert key == privacy.hmac_key("secret") and not key.is_dev_key
    assert key.ipad_hex not in repr(key) and key.opad_hex not in repr(key)
    monkeypatch.delenv(privacy.KEY_ENV)
    with pytest.raises(privacy.SuppressionKeyError, match="REVEIL_SUPPRESSION_KEY"):
        privacy.suppression_key()
    dev = privacy.suppression_key(allow_dev_key=True)
    assert dev.is_dev_key and dev == privacy.hmac_key(privacy.DEV_KEY, is_dev_key=True)
    assert b"NOT-SECRET" in privacy.DEV_KEY
    with pytest.raises(privacy.SuppressionKeyError):
        privacy.hmac_key(b"")


def test_row_filter_is_empty_before_any_purge(con, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    assert privacy.suppression_row_filter(con) == {}  # no key needed either


def test_row_filter_needs_the_key_once_something_was_purged(con, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    con.execute("create schema suppression")
    con.execute("create table suppression.email_hashes (email_hmac varchar)")
    con.execute("insert into suppression.email_hashes values ('00')")
    with pytest.raises(privacy.SuppressionKeyError):
        privacy.suppression_row_filter(con)
