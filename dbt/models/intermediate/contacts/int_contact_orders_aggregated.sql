{#
    Completed orders of each contact up to each snapshot date (every snapshot kind).
    Incremental: a daily build recomputes only the contacts with new or late orders and
    carries the others over (macros/snapshot_increment.sql).
#}
{{ reveil_snapshot_increment_config(empty_row_condition='completed_order_count = 0') }}

with

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

),

orders_superseded as (

    select * from {{ ref('stg_raw__orders_superseded') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

),

{# what marks a contact to recompute: its orders, and the orders a re-delivery moved away
   from it (to another contact or day) #}
order_changes as {{ reveil_not_materialized() }} (

    select
        contact_id,
        ordered_date,
        loaded_at

    from orders

    union all

    select
        contact_id,
        ordered_date,
        loaded_at

    from orders_superseded

),

{{ reveil_snapshot_increment_ctes('order_changes', 'ordered_date', 'snapshot_dates') }}

completed_orders as {{ reveil_not_materialized() }} (

    select
        contact_id,
        ordered_date,
        ordered_at,
        amount

    from orders

    where
        is_completed
        and not is_pseudonymised

),

{#
    Dates built in full (first build, --full-refresh, a date older than any stored one):
    exploding every order into every later snapshot date costs orders x dates (30+ dates:
    the reactivation send eves). Instead each order goes to the first full date on or after
    it, totals run over those buckets per contact, and each running total stands for the
    dates up to the contact's next bucket.
#}
order_day_buckets as (

    {{ reveil_snapshot_day_buckets('completed_orders', 'ordered_date') }}

),

bucketed as (

    select
        order_day_buckets.bucket_date,
        completed_orders.contact_id,
        min(completed_orders.ordered_at) as first_order_at,
        max(completed_orders.ordered_at) as last_order_at,
        count(*) as completed_order_count,
        sum(completed_orders.amount) as lifetime_revenue

    from completed_orders

    inner join order_day_buckets
        on completed_orders.ordered_date = order_day_buckets.row_date

    group by
        order_day_buckets.bucket_date,
        completed_orders.contact_id

),

running as (

    select
        bucket_date,
        contact_id,
        lead(bucket_date) over (
            partition by contact_id order by bucket_date
        ) as next_bucket_date,
        min(first_order_at) over (
            partition by contact_id order by bucket_date
            rows between unbounded preceding and current row
        ) as first_order_at,
        max(last_order_at) over (
            partition by contact_id order by bucket_date
            rows between unbounded preceding and current row
        ) as last_order_at,
        sum(completed_order_count) over (
            partition by contact_id order by bucket_date
            rows between unbounded preceding and current row
        ) as completed_order_count,
        sum(lifetime_revenue) over (
            partition by contact_id order by bucket_date
            rows between unbounded preceding and current row
        ) as lifetime_revenue

    from bucketed

),

full_dates_aggregated as (

    {{ reveil_snapshot_spread(
        'running',
        ['first_order_at', 'last_order_at', 'completed_order_count', 'lifetime_revenue']
    ) }}

),

{# the contacts an incremental build recomputes, from their whole history #}
completed_orders_by_snapshot as (

    {{ reveil_snapshot_increment_rows(
        'completed_orders', 'ordered_date', ['contact_id', 'ordered_at', 'amount'],
        full_dates=false
    ) }}

),

aggregated as (

    select
        as_of_date,
        contact_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as completed_order_count,
        sum(amount) as lifetime_revenue

    from completed_orders_by_snapshot

    group by
        as_of_date,
        contact_id

    union all

    select * from full_dates_aggregated

),

{#
    An affected contact whose completed orders are all gone (an order re-delivered as
    cancelled) gets a row with no order, so delete+insert replaces its old row; the
    post-hook then deletes such rows.
#}
recomputed as (

    select
        aggregated.as_of_date,
        aggregated.contact_id,
        aggregated.first_order_at,
        aggregated.last_order_at,
        aggregated.completed_order_count,
        aggregated.lifetime_revenue

    from aggregated

    {% if is_incremental() %}

    union all

    select
        affected.as_of_date,
        affected.contact_id,
        cast(null as timestamp) as first_order_at,
        cast(null as timestamp) as last_order_at,
        0 as completed_order_count,
        cast(null as {{ reveil_money_type() }}) as lifetime_revenue

    from affected

    where
        not exists (
            select 1
            from aggregated
            where
                aggregated.as_of_date = affected.as_of_date
                and aggregated.contact_id = affected.contact_id
        )

    union all

    {{ reveil_snapshot_increment_carried(
        ['first_order_at', 'last_order_at', 'completed_order_count', 'lifetime_revenue']
    ) }}

    {% endif %}

),

{# running sums come out as HUGEINT / DECIMAL(38, 2): stored narrow, they cut the CPU
    of the sorts on them downstream by ~40 % (int_customer_rfm_scored's ntile windows) #}
final as (

    select
        recomputed.as_of_date,
        recomputed.contact_id,
        recomputed.first_order_at,
        recomputed.last_order_at,
        cast(recomputed.completed_order_count as {{ dbt.type_bigint() }})
            as completed_order_count,
        cast(recomputed.lifetime_revenue as {{ reveil_money_type() }}) as lifetime_revenue,
        (select max(orders.loaded_at) from orders) as source_loaded_through

    from recomputed

)

select * from final
