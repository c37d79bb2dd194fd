{#
    Sleeping contacts (status inactive or lost) at the current snapshot, counted and valued
    along several dimensions, in one long table: one row per (dimension, dimension_value).
    dimension = 'overall' holds the total (dimension_value 'all'). BI tools filter on one
    dimension and chart dimension_value; sort on dimension_value_order where it matters
    (tenure bands). Missing values are reported as 'unknown'.
    Next to the historical revenue at stake, the predicted value at stake: the sum of
    dim_contact_inactivity.predicted_value_at_stake (P(alive) x 12-month CLV of each sleeping
    customer), with the number of sleeping customers the models scored and their mean P(alive);
    null when no prediction exists for the snapshot date.
#}
{%- set dimensions = [
    'inactivity_status',
    'rfm_segment',
    'business_cycle',
    'inactivity_reason',
    'acquisition_source',
    'industry',
    'tenure_band',
] -%}
with

contacts as (

    select * from {{ ref('dim_contact_inactivity') }}

    where is_inactive

),

totals as (

    select
        count(*) as inactive_contact_count,
        sum(revenue_at_stake) as revenue_at_stake

    from contacts

),

grouped as (

    select
        'overall' as dimension,
        'all' as dimension_value,
        0 as dimension_value_order,
        count(*) as inactive_contact_count,
        sum(revenue_at_stake) as revenue_at_stake,
        sum(lifetime_revenue) as lifetime_revenue,
        sum(predicted_value_at_stake) as predicted_value_at_stake,
        count(p_alive) as scored_customer_count,
        avg(p_alive) as mean_p_alive

    from contacts
    {% for dimension in dimensions %}
    union all

    select
        '{{ dimension }}' as dimension,
        coalesce({{ dimension }}, 'unknown') as dimension_value,
        {{ 'min(tenure_band_order)' if dimension == 'tenure_band' else '0' }}
            as dimension_value_order,
        count(*) as inactive_contact_count,
        sum(revenue_at_stake) as revenue_at_stake,
        sum(lifetime_revenue) as lifetime_revenue,
        sum(predicted_value_at_stake) as predicted_value_at_stake,
        count(p_alive) as scored_customer_count,
        avg(p_alive) as mean_p_alive

    from contacts

    group by coalesce({{ dimension }}, 'unknown')
    {% endfor %}
),

final as (

    select
        {{ reveil_as_of() }} as as_of_date,
        grouped.dimension,
        grouped.dimension_value,
        grouped.dimension_value_order,
        grouped.inactive_contact_count,
        grouped.revenue_at_stake,
        grouped.lifetime_revenue,
        {{ safe_ratio('grouped.revenue_at_stake', 'grouped.inactive_contact_count') }}
            as average_revenue_at_stake,
        {{ safe_ratio('grouped.inactive_contact_count', 'totals.inactive_contact_count') }}
            as share_of_inactive_contacts,
        {{ safe_ratio('grouped.revenue_at_stake', 'totals.revenue_at_stake') }}
            as share_of_revenue_at_stake,
        grouped.predicted_value_at_stake,
        grouped.scored_customer_count,
        grouped.mean_p_alive

    from grouped

    cross join totals

)

select * from final
