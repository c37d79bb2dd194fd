"""The SQL floor: the core marts straight from the landing files in one DuckDB script.

No orchestration, no dbt, no gates, no history — what the pipeline's work costs at the
minimum on this machine. Same rules as the dbt models, simplified (one snapshot date).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from dagster_project import settings

SCRIPT = """
create table contacts as select * from read_parquet('{landing}/contacts/*.parquet');
create table orders as select * from read_parquet('{landing}/orders/*.parquet');
create table events as select * from read_parquet('{landing}/email_events/*.parquet');
create table campaigns as select * from read_parquet('{landing}/campaigns/*.parquet');

create table contact_activity as
with last_orders as (
    select contact_id, max(ordered_at) as last_order_at, count(*) as frequency,
           sum(amount) as monetary
    from orders where status = 'completed' group by contact_id
), last_events as (
    select contact_id,
           max(occurred_at) filter (where event_type = 'click') as last_click_at,
           max(occurred_at) filter (
               where event_type = 'open' and not coalesce(is_machine_open, false)
           ) as last_human_open_at,
           max(occurred_at) filter (where event_type = 'hard_bounce') as last_hard_bounce_at,
           count(*) filter (where event_type = 'spam_complaint') as complaints
    from events group by contact_id
)
select c.contact_id, c.business_type,
       case when c.business_type = 'B2B' then 180 else 90 end as window_days,
       o.last_order_at, o.frequency, o.monetary, e.last_click_at, e.last_human_open_at,
       greatest(o.last_order_at, e.last_click_at, c.created_at) as last_activity_at,
       e.last_hard_bounce_at, e.complaints
from contacts c
left join last_orders o using (contact_id)
left join last_events e using (contact_id);

create table dim_contact_inactivity as
select *,
    date_diff('day', last_activity_at, current_date) as days_inactive,
    case when date_diff('day', last_activity_at, current_date) >= 2 * window_days then 'lost'
         when date_diff('day', last_activity_at, current_date) >= window_days then 'inactive'
         when date_diff('day', last_activity_at, current_date) >= 0.5 * window_days then 'at_risk'
         else 'active' end as status,
    case when last_hard_bounce_at is not null then 'dead_address'
         when complaints > 0 then 'deliverability'
         when last_human_open_at is not null and last_click_at is null then 'lost_interest'
         when last_order_at is null and last_click_at is null then 'never_engaged'
         else 'unknown' end as reason
from contact_activity;

create table value_at_stake as
select a.contact_id, sum(o.amount) as revenue_12m, avg(o.amount) as average_basket
from contact_activity a
join orders o on o.contact_id = a.contact_id and o.status = 'completed'
    and o.ordered_at > a.last_activity_at - interval 365 day
group by a.contact_id;

create table dim_customer_rfm as
with scored as (
    select contact_id, date_diff('day', last_order_at, current_date) as recency, frequency,
           monetary,
           ntile(5) over (order by last_order_at, contact_id) as r_score,
           ntile(5) over (order by frequency, contact_id) as f_score,
           ntile(5) over (order by monetary, contact_id) as m_score
    from contact_activity where frequency > 0
)
select *, case
    when r_score >= 4 and (f_score + m_score) >= 8 then 'champions'
    when r_score >= 3 and (f_score + m_score) >= 7 then 'loyal'
    when r_score >= 4 and (f_score + m_score) >= 4 then 'potential_loyalists'
    when r_score = 5 then 'new_customers'
    when r_score = 4 then 'promising'
    when r_score = 3 and (f_score + m_score) >= 5 then 'need_attention'
    when r_score = 3 then 'about_to_sleep'
    when r_score <= 2 and (f_score + m_score) >= 9 then 'cant_lose_them'
    when r_score <= 2 and (f_score + m_score) >= 6 then 'at_risk'
    when r_score = 2 then 'hibernating'
    else 'lost' end as segment
from scored;

create table rpt_inactive_summary as
select coalesce(r.segment, 'no_purchase') as segment, i.business_type, i.reason,
       count(*) as inactive_contacts, sum(v.revenue_12m) as revenue_at_stake
from dim_contact_inactivity i
left join dim_customer_rfm r using (contact_id)
left join value_at_stake v using (contact_id)
where i.status in ('inactive', 'lost')
group by grouping sets ((r.segment), (i.business_type), (i.reason));

create table touches as
select e.contact_id, e.campaign_id, e.occurred_at as touched_at
from events e join campaigns k using (campaign_id)
where k.campaign_kind = 'reactivation' and e.event_type = 'sent';

create table rpt_reactivation_kpis as
with per_campaign as (
    select campaign_id,
        count(*) filter (where event_type = 'sent') as sent,
        count(*) filter (where event_type = 'delivered') as delivered,
        count(distinct contact_id) filter (where event_type = 'open'
            and not coalesce(is_machine_open, false)) as human_openers,
        count(distinct contact_id) filter (where event_type = 'click') as clickers,
        count(*) filter (where event_type in ('hard_bounce', 'soft_bounce')) as bounces,
        count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
        count(*) filter (where event_type = 'spam_complaint') as complaints
    from events group by campaign_id
), conversions as (
    select t.campaign_id, count(distinct o.order_id) as conversions, sum(o.amount) as revenue
    from touches t join orders o on o.contact_id = t.contact_id and o.status = 'completed'
        and o.ordered_at > t.touched_at and o.ordered_at <= t.touched_at + interval 14 day
    group by t.campaign_id
)
select k.campaign_id, k.reactivation_step, k.variant, k.channel, p.sent, p.delivered,
       p.human_openers / nullif(p.delivered, 0) as human_open_rate,
       p.clickers / nullif(p.delivered, 0) as click_rate,
       coalesce(c.conversions, 0) as conversions, coalesce(c.revenue, 0) as revenue,
       p.sent * k.cost_per_message as cost
from campaigns k join per_campaign p using (campaign_id)
left join conversions c using (campaign_id)
where k.campaign_kind = 'reactivation';
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    parser.add_argument("--landing", type=Path, required=True)
    # the pipeline's limit: the floor gets the same memory
    parser.add_argument("--memory-limit", default=settings.duckdb_memory_limit())
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.execute(f"set memory_limit = '{args.memory_limit}'")
        con.execute(f"set temp_directory = '{tmp}'")
        con.execute("set preserve_insertion_order = false")
        con.execute(SCRIPT.format(landing=args.landing))
        counts = {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("dim_contact_inactivity", "dim_customer_rfm", "rpt_reactivation_kpis")
        }
        con.close()
    sys.stdout.write(f"{counts} in {time.perf_counter() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
