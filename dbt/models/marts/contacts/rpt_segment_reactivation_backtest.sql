{#
    Backtest of reactivation odds: at the backtest date (as_of_date - backtest_lookback_days)
    take the customers (>= 1 completed order then) whose status was inactive or lost, with
    their RFM segment then, both computed only from data up to that date. A customer is
    reactivated when it completed an order within backtest_outcome_days after that date
    (and by the current as_of_date). One row per segment of rfm_segment_map, even empty.

    Next to it, what the CLV models say today: the customers sleeping at the current
    as_of_date in each (current) segment, their mean P(alive) and their mean probability of
    at least one purchase in the next 365 days (dim_contact_inactivity, MBG/NBD). Different
    people and a different date: the backtest rate is what happened to last year's sleepers
    of a segment, the model's numbers are forecasts for today's sleepers of the same segment.
    current_mean_p_purchase_365d is the like-for-like forecast of reactivation_rate (with the
    default 365-day outcome window); current_mean_p_alive is higher by construction (alive
    does not mean buying within the year).
#}
with

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of(-var('backtest_lookback_days')) }}

),

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

    where as_of_date = {{ reveil_as_of(-var('backtest_lookback_days')) }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

segments as (

    select distinct rfm_segment from segment_map

),

current_contacts as (

    select * from {{ ref('dim_contact_inactivity') }}

),

outcome_window as (

    select
        {{ reveil_as_of(-var('backtest_lookback_days')) }} as backtest_as_of_date,
        {{ reveil_add_days(
            reveil_as_of(-var('backtest_lookback_days')), var('backtest_outcome_days')
        ) }} as outcome_end_date,
        {{ reveil_as_of() }} as as_of_date

),

inactive_customers as (

    select
        inactivity.contact_id,
        rfm.rfm_segment

    from inactivity

    inner join rfm
        on inactivity.contact_id = rfm.contact_id

    where inactivity.is_inactive

),

reactivated_customers as (

    select distinct orders.contact_id

    from orders

    cross join outcome_window

    where
        orders.is_completed
        and orders.ordered_date > outcome_window.backtest_as_of_date
        and orders.ordered_date <= outcome_window.outcome_end_date
        and orders.ordered_date <= outcome_window.as_of_date

),

counted as (

    select
        segments.rfm_segment,
        count(inactive_customers.contact_id) as inactive_customer_count,
        count(reactivated_customers.contact_id) as reactivated_customer_count

    from segments

    left join inactive_customers
        on segments.rfm_segment = inactive_customers.rfm_segment

    left join reactivated_customers
        on inactive_customers.contact_id = reactivated_customers.contact_id

    group by segments.rfm_segment

),

current_predictions as (

    select
        rfm_segment,
        count(*) as current_inactive_customer_count,
        avg(p_alive) as current_mean_p_alive,
        avg(p_purchase_365d) as current_mean_p_purchase_365d

    from current_contacts

    where
        is_inactive
        and completed_order_count > 0

    group by rfm_segment

),

final as (

    select
        counted.rfm_segment,
        outcome_window.backtest_as_of_date,
        outcome_window.outcome_end_date,
        outcome_window.outcome_end_date <= outcome_window.as_of_date
            as is_outcome_window_complete,
        counted.inactive_customer_count,
        counted.reactivated_customer_count,
        {{ safe_ratio('counted.reactivated_customer_count', 'counted.inactive_customer_count') }}
            as reactivation_rate,
        {{ wilson_bound(
            'counted.reactivated_customer_count', 'counted.inactive_customer_count', 'lower'
        ) }} as reactivation_rate_lower_95,
        {{ wilson_bound(
            'counted.reactivated_customer_count', 'counted.inactive_customer_count', 'upper'
        ) }} as reactivation_rate_upper_95,
        coalesce(current_predictions.current_inactive_customer_count, 0)
            as current_inactive_customer_count,
        current_predictions.current_mean_p_alive,
        current_predictions.current_mean_p_purchase_365d

    from counted

    cross join outcome_window

    left join current_predictions
        on counted.rfm_segment = current_predictions.rfm_segment

)

select * from final
