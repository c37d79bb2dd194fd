{#
    History of the contact base: one row per snapshot date, kept across runs (incremental).
    Each build adds the row of its as_of_date, or replaces it when that day is built again
    (unique_key as_of_date: delete+insert here, a partition overwrite on Spark). The backtest
    snapshot (as_of_date - backtest_lookback_days), which the build computes anyway, is added
    as a reconstructed row (is_reconstructed) unless an observed row of that date is already
    kept: the first build already has a point a year back, and an observed row always wins.
    full_refresh = false: `dbt build --full-refresh` keeps the history (drop the table to
    restart it). Sleeping = status inactive or lost (is_inactive), as in the other marts.
#}
{{
    config(
        materialized='incremental',
        unique_key='as_of_date',
        incremental_strategy=(
            'insert_overwrite' if target.type == 'spark' else 'delete+insert'
        ),
        partition_by=(['as_of_date'] if target.type == 'spark' else none),
        on_schema_change='append_new_columns',
        full_refresh=false,
    )
}}
with

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

),

aggregated as (

    select
        as_of_date,
        cast(count(*) as bigint) as contact_count,
        {{ reveil_count_if('completed_order_count > 0') }} as customer_count,
        {{ reveil_count_if("inactivity_status = 'active'") }} as active_contact_count,
        {{ reveil_count_if("inactivity_status = 'at_risk'") }} as at_risk_contact_count,
        {{ reveil_count_if("inactivity_status = 'inactive'") }} as inactive_contact_count,
        {{ reveil_count_if("inactivity_status = 'lost'") }} as lost_contact_count,
        {{ reveil_count_if('is_inactive') }} as sleeping_contact_count,
        {{ reveil_count_if('is_inactive and completed_order_count > 0') }}
            as sleeping_customer_count,
        {{ reveil_count_if('is_email_inactive') }} as email_inactive_contact_count,
        coalesce(sum(case when is_inactive then revenue_at_stake end), 0) as revenue_at_stake,
        coalesce(
            sum(case when inactivity_status = 'at_risk' then revenue_at_stake end), 0
        ) as at_risk_revenue_at_stake,
        coalesce(sum(lifetime_revenue), 0) as lifetime_revenue

    from inactivity

    group by as_of_date

),

snapshots as (

    select
        as_of_date,
        as_of_date <> {{ reveil_as_of() }} as is_reconstructed,
        contact_count,
        customer_count,
        active_contact_count,
        at_risk_contact_count,
        inactive_contact_count,
        lost_contact_count,
        sleeping_contact_count,
        sleeping_customer_count,
        email_inactive_contact_count,
        {{ safe_ratio('sleeping_contact_count', 'contact_count') }} as inactive_share,
        {{ safe_ratio('sleeping_customer_count', 'customer_count') }}
            as inactive_customer_share,
        revenue_at_stake,
        at_risk_revenue_at_stake,
        lifetime_revenue,
        {{ dbt.current_timestamp() }} as recorded_at

    from aggregated

),

final as (

    select * from snapshots
    {% if is_incremental() %}
    -- a reconstructed row never replaces an observed one
    where
        not is_reconstructed
        or as_of_date not in (
            select kept.as_of_date from {{ this }} as kept
            where not kept.is_reconstructed
        )
    {% endif %}
)

select * from final
