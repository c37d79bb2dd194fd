{# Completed orders of each contact up to each snapshot date (every snapshot kind). #}
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

),

completed_orders_by_snapshot as (

    select
        snapshot_dates.as_of_date,
        orders.contact_id,
        orders.ordered_at,
        orders.amount

    from orders

    inner join snapshot_dates
        on orders.ordered_date <= snapshot_dates.as_of_date

    where
        orders.is_completed
        and not coalesce(orders.is_pseudonymised, false)

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

)

select * from aggregated
