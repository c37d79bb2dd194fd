"""The source-data generator: determinism, canonical columns, realistic proportions, defects,
daily deliveries and both file formats, checked with DuckDB on small generated worlds."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from dagster_project.generate import GeneratorInputError, core, generate, generate_day
from dagster_project.generate.__main__ import main
from dagster_project.lib.schema import SOURCES

AS_OF = date(2025, 6, 1)
N = 3_000
SEED = 7


def _con(root, fmt: str = "parquet", sources=SOURCES) -> duckdb.DuckDBPyConnection:
    """One view per source over every file of its folder."""
    con = duckdb.connect()
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    for name in sources:
        con.execute(f"create view {name} as select * from {reader}('{root}/{name}/*.{fmt}')")
    return con


def _one(con, sql: str, params=None):
    return con.execute(sql, params or []).fetchone()


def _fingerprint(root, fmt: str = "parquet") -> dict[str, tuple]:
    """Row count and an order-independent hash of every row, per source."""
    con = _con(root, fmt)
    out = {}
    for name, source in SOURCES.items():
        cols = ", ".join(source.column_names)
        out[name] = _one(con, f"select count(*), sum(hash({cols})::hugeint) from {name}")
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    counts = generate(root, contacts=N, seed=SEED, as_of=AS_OF)
    return root, counts


@pytest.fixture(scope="module")
def con(history):
    return _con(history[0])


def test_counts_match_files(history, con):
    root, counts = history
    assert counts["contacts"] == N
    for name, rows in counts.items():
        assert _one(con, f"select count(*) from {name}")[0] == rows, name
    assert counts["email_events"] / N > 20  # tens of events per contact


def test_same_seed_same_data_other_seed_other_data(history, tmp_path):
    root, _ = history
    generate(tmp_path / "again", contacts=N, seed=SEED, as_of=AS_OF)
    generate(tmp_path / "other", contacts=N, seed=SEED + 1, as_of=AS_OF)
    reference = _fingerprint(root)
    assert _fingerprint(tmp_path / "again") == reference
    other = _fingerprint(tmp_path / "other")
    for name in SOURCES:
        assert other[name] != reference[name], name


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_columns_are_exactly_the_canonical_schema(tmp_path, fmt):
    generate(tmp_path, contacts=300, seed=1, as_of=AS_OF, fmt=fmt)
    con = duckdb.connect()
    for name, source in SOURCES.items():
        files = list((tmp_path / name).iterdir())
        assert [f.name for f in files] == [f"{name}.{fmt}"]
        if fmt == "parquet":
            described = con.execute(f"describe select * from read_parquet('{files[0]}')").fetchall()
            assert [(r[0], r[1]) for r in described] == [
                (c.name, c.type) for c in source.columns
            ], name
        else:
            header = files[0].read_text(encoding="utf-8").splitlines()[0]
            assert header.split(",") == source.column_names, name
            # every value converts to its canonical type ('' is null)
            columns = ", ".join(f"'{c.name}': '{c.type}'" for c in source.columns)
            rows = con.execute(
                f"select count(*) from read_csv('{files[0]}', header = true, "
                f"columns = {{{columns}}}, nullstr = '', auto_detect = false)"
            ).fetchone()[0]
            assert rows > 0, name


def test_csv_is_readable_with_auto_detection(tmp_path):
    generate(tmp_path, contacts=300, seed=1, as_of=AS_OF, fmt="csv")
    con = _con(tmp_path, "csv")
    row = _one(con, "select typeof(occurred_at), typeof(is_machine_open) from email_events")
    assert row == ("TIMESTAMP", "BOOLEAN")
    assert _one(con, "select count(*) from contacts where legal_hold not in (true, false)")[0] == 0
    text = (tmp_path / "email_events" / "email_events.csv").read_text(encoding="utf-8")
    line = text.splitlines()[1].split(",")
    assert len(line[4]) == len("2025-06-01 12:00:00") and line[4][10] == " "
    assert ",true," in text or ",false," in text


def test_history_ends_on_as_of(con):
    end = AS_OF + timedelta(days=1)
    newest_event, newest_order = _one(
        con,
        "select (select max(occurred_at) from email_events), (select max(ordered_at) from orders)",
    )
    assert newest_event.date() >= AS_OF - timedelta(days=1) and newest_event.date() < end
    assert newest_order.date() >= AS_OF - timedelta(days=2) and newest_order.date() < end
    assert _one(con, "select max(created_at) from contacts")[0].date() < end
    first = _one(con, "select min(created_at) from contacts")[0].date()
    assert (AS_OF - first).days > 4 * 365  # contacts created over ~5 years


def test_contacts_look_real(con):
    b2b, email_consent, sms, push, hold = _one(
        con,
        """
        select avg((business_type = 'B2B')::int), avg(email_consent::int),
               avg(sms_consent::int), avg(push_consent::int), avg(legal_hold::int)
        from contacts""",
    )
    assert 0.20 <= b2b <= 0.30
    assert 0.72 <= email_consent <= 0.88
    assert 0.30 <= sms <= 0.50
    assert 0.20 <= push <= 0.35
    assert hold < 0.02
    n, distinct, well_formed, lower = _one(
        con,
        """
        select count(*), count(distinct email),
               count(*) filter (where regexp_full_match(
                   email, '[a-z0-9][a-z0-9._-]*@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}')),
               count(*) filter (where email = lower(email))
        from contacts""",
    )
    assert n == distinct == well_formed == lower
    assert (
        _one(con, "select count(*) from contacts where regexp_full_match(contact_id, 'C[0-9]{7}')")[
            0
        ]
        == n
    )
    assert (
        _one(
            con,
            "select avg(regexp_full_match(phone, '\\+[0-9]{10,13}')::int) "
            "from contacts where phone is not null",
        )[0]
        == 1
    )
    apple = _one(
        con,
        "select count(*) from contacts where email like '%@icloud.com' or email like '%@me.com'",
    )[0]
    assert apple > 0.05 * n
    b2b_complete = _one(
        con,
        """
        select bool_and(company_name is not null and siret is not null)
        from contacts where business_type = 'B2B'""",
    )[0]
    assert b2b_complete
    assert (
        _one(
            con, "select count(*) from contacts where business_type = 'B2C' and siret is not null"
        )[0]
        == 0
    )


def _luhn_sql() -> str:
    digit = "substr(siret, (i + 1)::int, 1)::int"
    doubled = f"(case when {digit} * 2 > 9 then {digit} * 2 - 9 else {digit} * 2 end)"
    return (
        f"list_sum(list_transform(range(14), lambda i: "
        f"case when i % 2 = 0 then {doubled} else {digit} end)) % 10 = 0"
    )


def test_siret_checksum_mostly_valid(con):
    valid, n = _one(
        con,
        f"""
        select avg(({_luhn_sql()})::int), count(*)
        from (select distinct siret from contacts where siret is not null)""",
    )
    assert n > 400
    assert 0.90 <= valid <= 0.99


def test_registry_statuses_like_sirene(con):
    rows = dict(
        con.execute("""
        select coalesce(case when is_acquired then 'acquired' when is_moved then 'moved'
                             else administrative_status end, 'not_found'), count(*)
        from (select distinct siret from contacts where siret is not null) s
        left join company_registry r using (siret) group by 1""").fetchall()
    )
    total = sum(rows.values())
    share = {k: v / total for k, v in rows.items()}
    assert 0.42 <= share["active"] <= 0.60
    assert 0.28 <= share["not_found"] <= 0.43
    assert 0.04 <= share["closed"] <= 0.12
    assert 0.03 <= share["moved"] <= 0.10
    assert share.get("acquired", 0) < 0.01
    assert _one(con, "select count(*) - count(distinct siret) from company_registry")[0] == 0
    assert (
        _one(
            con,
            """select count(*) from company_registry
        where (administrative_status = 'closed') != (closed_at is not null)
           or is_moved != (moved_at is not null)""",
        )[0]
        == 0
    )


def test_orders_and_lines(con):
    statuses = dict(
        con.execute(
            "select status, count(*) / sum(count(*)) over () from orders group by 1"
        ).fetchall()
    )
    assert 0.86 <= statuses["completed"] <= 0.94
    assert 0.03 <= statuses["refunded"] <= 0.07
    assert 0.03 <= statuses["cancelled"] <= 0.07
    assert _one(con, "select count(*) from orders where currency != 'EUR' or amount <= 0")[0] == 0
    mismatched = _one(
        con,
        """
        select count(*) from orders o join (
            select order_id, sum(quantity * unit_price) as total, max(line_number) as n_lines,
                   count(*) as lines
            from order_lines group by 1) l using (order_id)
        where o.amount != l.total or l.n_lines != l.lines or l.lines > 4""",
    )[0]
    assert mismatched == 0
    assert (
        _one(
            con,
            "select count(*) from orders where order_id not in (select order_id from order_lines)",
        )[0]
        == 0
    )
    # co-purchases: a printer comes with ink more often than anything else
    top = _one(
        con,
        """
        select b.product_category, count(*) from order_lines a join order_lines b
          on a.order_id = b.order_id and a.line_number < b.line_number
        where a.product_category = 'printers' and b.product_category != 'printers'
        group by 1 order by 2 desc limit 1""",
    )
    assert top[0] == "ink_toner"
    b2c, b2b = con.execute("""
        select avg(amount) from orders join contacts using (contact_id)
        group by business_type order by business_type desc""").fetchall()
    assert b2b[0] > 2 * b2c[0]  # B2B baskets are larger


def test_inactive_share_between_20_and_50_percent(con):
    """No completed order, click or human open in the last 90 days (180 for B2B)."""
    share = _one(
        con,
        f"""
        with activity as (
            select contact_id, ordered_at as activity_at from orders where status = 'completed'
            union all
            select contact_id, occurred_at from email_events
            where event_type = 'click' or (event_type = 'open' and not is_machine_open)
        ), last_activity as (
            select c.contact_id, c.business_type, max(a.activity_at) as activity_at
            from contacts c left join activity a using (contact_id) group by all
        )
        select avg((activity_at is null or activity_at < date '{AS_OF}' + 1
                    - (case business_type when 'B2B' then 180 else 90 end) * interval 1 day
                   )::int)
        from last_activity""",
    )[0]
    assert 0.20 <= share <= 0.50


def test_email_events_behave(con):
    types = dict(con.execute("select event_type, count(*) from email_events group by 1").fetchall())
    assert set(types) == set(
        (
            "sent",
            "delivered",
            "open",
            "click",
            "soft_bounce",
            "hard_bounce",
            "unsubscribe",
            "spam_complaint",
        )
    )
    assert types["delivered"] / types["sent"] > 0.9
    assert 0.0005 < types["unsubscribe"] / types["sent"] < 0.005
    # machine opens come from Apple MPP, mostly icloud.com / me.com recipients
    apple, others = con.execute("""
        select avg(is_machine_open::int) from email_events join contacts using (contact_id)
        where event_type = 'open'
        group by (email like '%@icloud.com' or email like '%@me.com') order by 1 desc
        """).fetchall()
    assert apple[0] > 0.5 > others[0]
    assert (
        _one(
            con,
            "select count(*) from email_events where event_type = 'open' "
            "and is_machine_open and user_agent != 'Mozilla/5.0'",
        )[0]
        == 0
    )
    # sms and push sends only have sent, delivered and click events
    assert (
        _one(
            con,
            """
        select count(*) from email_events join campaigns using (campaign_id)
        where channel != 'email' and event_type not in ('sent', 'delivered', 'click')""",
        )[0]
        == 0
    )
    # nobody is emailed after unsubscribing
    late = _one(
        con,
        """
        with unsub as (select contact_id, min(occurred_at) as at from email_events
                       where event_type in ('unsubscribe', 'spam_complaint') group by 1)
        select count(*) from email_events e join unsub using (contact_id)
        join campaigns c using (campaign_id)
        where e.event_type = 'sent' and c.channel = 'email' and e.occurred_at > unsub.at
          + interval 1 day""",
    )[0]
    assert late == 0
    # hard bounces are concentrated on few contacts (abandoned addresses)
    bounced = _one(
        con, "select count(distinct contact_id) from email_events where event_type = 'hard_bounce'"
    )[0]
    assert 0 < bounced < 0.2 * N


def test_campaigns_and_reactivation(con):
    kinds = dict(con.execute("select campaign_kind, count(*) from campaigns group by 1").fetchall())
    assert kinds["newsletter"] > 100 and kinds["promotion"] > 100 and kinds["reactivation"] > 12
    assert _one(con, "select count(*) - count(distinct campaign_id) from campaigns")[0] == 0
    assert (
        _one(
            con,
            "select count(*) from campaigns where (campaign_kind = 'reactivation') "
            "!= (reactivation_step between 1 and 4)",
        )[0]
        == 0
    )
    assert _one(con, "select count(*) from campaigns where variant = 'B'")[0] > 5
    costs = dict(
        con.execute("select channel, avg(cost_per_message) from campaigns group by 1").fetchall()
    )
    assert costs["sms"] > 10 * costs["email"] > costs["push"]
    # the last wave ended in the days before as_of, spread over 6-12 weeks
    first, last = _one(
        con,
        """
        with waves as (select split_part(campaign_name, ' - ', 1) as wave, min(sent_at) as first,
                              max(sent_at) as last
                       from campaigns where campaign_kind = 'reactivation' group by 1)
        select first, last from waves order by last desc limit 1""",
    )
    assert 0 < (AS_OF - last.date()).days <= 10
    assert 6 * 7 <= (last - first).days <= 12 * 7
    # some sleepers click and buy within days, most of those touched 3+ times stay silent
    responders, silent = _one(
        con,
        """
        with touches as (
            select e.contact_id, min(c.sent_at) as first_touch,
                   count(*) filter (where e.event_type = 'sent') as touches,
                   min(e.occurred_at) filter (where e.event_type = 'click') as clicked_at
            from email_events e join campaigns c using (campaign_id)
            where c.campaign_kind = 'reactivation' group by 1)
        select count(*) filter (where exists (
                   select 1 from orders o where o.contact_id = t.contact_id
                   and o.ordered_at between t.clicked_at and t.clicked_at + interval 14 day)),
               count(*) filter (where t.touches >= 3 and t.clicked_at is null)
        from touches t""",
    )
    assert responders > 10
    assert silent > 3 * responders


def test_defects_only_when_asked(history, tmp_path):
    checks = {
        "negative amounts": "select count(*) from orders where amount < 0",
        "future events": f"select count(*) from email_events where occurred_at >= "
        f"date '{AS_OF}' + 1",
        "future orders": f"select count(*) from orders where ordered_at >= date '{AS_OF}' + 1",
        "unknown event types": "select count(*) from email_events where event_type not in "
        "('sent', 'delivered', 'open', 'click', 'soft_bounce', "
        "'hard_bounce', 'unsubscribe', 'spam_complaint')",
        "duplicated event ids": "select count(*) - count(distinct event_id) from email_events",
        "duplicated order ids": "select count(*) - count(distinct order_id) from orders",
        "duplicated contact ids": "select count(*) - count(distinct contact_id) from contacts",
        "orphan events": "select count(*) from email_events where contact_id not in "
        "(select contact_id from contacts)",
        "orphan orders": "select count(*) from orders where contact_id not in "
        "(select contact_id from contacts)",
        "malformed emails": "select count(*) from contacts where not regexp_full_match(email, "
        "'[a-z0-9._-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}')",
    }
    clean = _con(history[0])
    for name, sql in checks.items():
        assert _one(clean, sql)[0] == 0, name
    generate(tmp_path, contacts=1_000, seed=SEED, as_of=AS_OF, defect_rate=0.02)
    dirty = _con(tmp_path)
    for name, sql in checks.items():
        assert _one(dirty, sql)[0] > 0, name


def test_day_delivery_follows_the_history(tmp_path):
    day = AS_OF + timedelta(days=1)
    generate(tmp_path, contacts=1_500, seed=SEED, as_of=AS_OF)
    counts = generate_day(tmp_path, day, contacts=1_500, seed=SEED)
    tag = day.strftime("%Y%m%d")
    for name in SOURCES:  # no header-only file for a source without rows that day
        assert (tmp_path / name / f"{name}_{tag}.parquet").exists() == (counts[name] > 0)
    assert counts["contacts"] > 0 and counts["campaigns"] > 0
    con = duckdb.connect()
    for name in SOURCES:
        con.execute(
            f"create view h_{name} as select * from "
            f"read_parquet('{tmp_path}/{name}/{name}.parquet')"
        )
        day_file = tmp_path / name / f"{name}_{tag}.parquet"
        con.execute(
            f"create view d_{name} as select * from read_parquet('{day_file}')"
            if day_file.exists()
            else f"create view d_{name} as select * from h_{name} limit 0"
        )
    assert counts["email_events"] > 0 and counts["orders"] > 0
    # new ids never collide with the history's
    assert (
        _one(con, "select count(*) from d_email_events join h_email_events using (event_id)")[0]
        == 0
    )
    assert (
        _one(
            con,
            "select count(*) from d_orders join h_orders using (order_id) "
            f"where d_orders.ordered_at >= date '{day}'",
        )[0]
        == 0
    )
    assert (
        _one(con, "select count(*) from d_order_lines join h_order_lines using (order_id)")[0] == 0
    )
    assert (
        _one(con, "select count(*) from d_campaigns join h_campaigns using (campaign_id)")[0] == 0
    )
    assert (
        _one(
            con,
            f"select count(*) from d_contacts where created_at >= date '{day}' "
            "and contact_id in (select contact_id from h_contacts)",
        )[0]
        == 0
    )
    # orders of the file are new orders of the day or refunds of older ones (upsert)
    assert (
        _one(
            con,
            f"""select count(*) from d_orders o left join h_orders h using (order_id)
        where not (o.ordered_at >= date '{day}' and h.order_id is null
                   or o.status = 'refunded' and h.status = 'completed')""",
        )[0]
        == 0
    )
    # events of the day (and a few late ones) about known contacts and campaigns
    lo, hi = _one(con, "select min(occurred_at)::date, max(occurred_at)::date from d_email_events")
    assert hi == day and (day - lo).days <= 2
    assert (
        _one(
            con,
            """select count(*) from d_email_events
        where contact_id not in (select contact_id from h_contacts
                                 union all select contact_id from d_contacts)
           or campaign_id not in (select campaign_id from h_campaigns
                                  union all select campaign_id from d_campaigns)""",
        )[0]
        == 0
    )
    # updated contacts carry the change of the day
    assert (
        _one(
            con,
            """select count(*) from d_contacts d join h_contacts h using (contact_id)
        where d.email_consent_at is not distinct from h.email_consent_at
          and d.sms_consent_at is not distinct from h.sms_consent_at
          and d.push_consent_at is not distinct from h.push_consent_at
          and d.phone is not distinct from h.phone""",
        )[0]
        == 0
    )

    # the next day, given the same history, continues with fresh ids again
    day2 = day + timedelta(days=1)
    generate_day(tmp_path, day2, contacts=1_500, seed=SEED, as_of=AS_OF)
    tag2 = day2.strftime("%Y%m%d")
    con.execute(
        f"create view d2 as select * from "
        f"read_parquet('{tmp_path}/email_events/email_events_{tag2}.parquet')"
    )
    assert (
        _one(
            con,
            "select count(*) from d2 where event_id in (select event_id from "
            "h_email_events union all select event_id from d_email_events)",
        )[0]
        == 0
    )
    with pytest.raises(ValueError):
        generate_day(tmp_path, AS_OF, contacts=1_500, seed=SEED, as_of=AS_OF)


def _latest(root, name: str, key: str) -> str:
    """Rows of every file of a source, the latest file winning per key (as an upsert does)."""
    return f"""(select * exclude (rn, filename) from (
        select *, row_number() over (partition by {key} order by filename desc) as rn
        from read_parquet('{root}/{name}/*.parquet', filename = true)) where rn = 1)"""


def test_history_plus_days_equals_the_longer_history_of_the_same_world(tmp_path):
    """Loading the history then the days (appending events, upserting the rest) gives exactly
    the world's history up to the last day: nothing lost, nothing twice, same ids."""
    from dagster_project.generate.core import Window, World, _write_window
    from dagster_project.generate.timeline import DAY, NEG_INF

    n, seed = 800, 11
    generate(tmp_path / "daily", contacts=n, seed=seed, as_of=AS_OF)
    for offset in (1, 2, 3):
        generate_day(
            tmp_path / "daily", AS_OF + timedelta(days=offset), contacts=n, seed=seed, as_of=AS_OF
        )
    world = World.build(n, seed, AS_OF)
    _write_window(
        world, tmp_path / "once", "parquet", Window(lo=int(NEG_INF), hi=world.tl.end + 3 * DAY), 0.0
    )
    con = duckdb.connect()
    for name, source in SOURCES.items():
        key = ", ".join(source.key)
        daily = (
            f"(select * exclude (filename) from read_parquet("
            f"'{tmp_path}/daily/{name}/*.parquet', filename = true))"
            if source.merge == "append"
            else _latest(tmp_path / "daily", name, key)
        )
        once = f"read_parquet('{tmp_path}/once/{name}/*.parquet')"
        assert (
            _one(con, f"select count(*) from {daily}")[0]
            == _one(con, f"select count(*) from {once}")[0]
        ), name
        differ = _one(con, f"select count(*) from ((from {daily}) except all (from {once}))")[0]
        assert differ == 0, name


def test_history_replaces_earlier_generator_files_only(tmp_path):
    generate(tmp_path, contacts=200, seed=1, as_of=AS_OF, fmt="csv")
    generate_day(tmp_path, AS_OF + timedelta(days=1), contacts=200, seed=1, fmt="csv")
    mine = tmp_path / "orders" / "my_export.csv"
    mine.write_text("order_id\n", encoding="utf-8")
    generate(tmp_path, contacts=200, seed=1, as_of=AS_OF)
    assert sorted(p.name for p in (tmp_path / "orders").iterdir()) == [
        "my_export.csv",
        "orders.parquet",
    ]


def test_big_histories_are_written_in_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "CHUNK_CONTACTS", 400)
    counts = generate(tmp_path, contacts=1_000, seed=SEED, as_of=AS_OF)
    names = sorted(p.name for p in (tmp_path / "email_events").iterdir())
    assert names == [f"email_events_part{i:02d}.parquet" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "contacts").iterdir()) == ["contacts.parquet"]
    con = _con(tmp_path)
    for name in SOURCES:
        assert _one(con, f"select count(*) from {name}")[0] == counts[name], name
    assert _one(con, "select count(*) - count(distinct event_id) from email_events")[0] == 0
    assert _one(con, "select count(*) - count(distinct order_id) from orders")[0] == 0
    assert (
        _one(
            con,
            "select count(*) from email_events where contact_id not in "
            "(select contact_id from contacts)",
        )[0]
        == 0
    )


def test_bad_arguments_fail_before_any_work(tmp_path):
    for kwargs in ({"contacts": 0}, {"fmt": "xlsx"}, {"defect_rate": 2.0}, {"history_days": 10}):
        args = {"contacts": 100, "seed": 1, **kwargs}
        with pytest.raises(GeneratorInputError):
            generate(tmp_path, **args)
    assert not any(tmp_path.iterdir())


def test_cli(tmp_path, capsys):
    assert (
        main(
            [
                "--contacts",
                "150",
                "--seed",
                "3",
                "--out",
                str(tmp_path),
                "--format",
                "csv",
                "--as-of",
                "2025-06-01",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "contacts" in out and "email_events" in out
    assert (tmp_path / "contacts" / "contacts.csv").exists()
    assert (
        main(
            [
                "--contacts",
                "150",
                "--seed",
                "3",
                "--out",
                str(tmp_path),
                "--format",
                "csv",
                "--day",
                "2025-06-02",
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "orders" / "orders_20250602.csv").exists()
    with pytest.raises(SystemExit):
        main(["--contacts", "150", "--out", str(tmp_path), "--format", "xlsx"])


def test_default_history_ends_with_the_last_complete_day():
    """Without as_of the history ends yesterday (UTC): a history ending today would hold
    events later than now, which the landing gates reject as future."""
    from datetime import UTC, datetime

    from dagster_project.generate.timeline import Timeline

    timeline = Timeline.build(None)
    now = datetime.now(UTC)
    assert timeline.as_of == now.date() - timedelta(days=1)
    assert timeline.end <= now.timestamp()
