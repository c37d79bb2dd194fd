{#
    Incremental lift of the audiences: conversion of the treated contacts against the held-out
    ones (control group) of audience_reactivation_history. A contact converts when it completes
    an order within attribution_window_days after its audience date (audience_date <
    ordered_date <= audience_date + window, up to the snapshot date). Levels:
      audience_date_segment  one audience date x RFM segment
      audience_date          one audience date, every segment
      overall                every audience date of an experiment (holdout_salt), each contact
                             once, at its first audience date, when that window is complete
                             (hold-outs stay eligible day after day: per-date rows repeat them)
    Statistics of the difference d = p_treated - p_holdout (as in rpt_reactivation_ab_tests):
        ci      = Newcombe's hybrid score interval of d, from the Wilson bounds of p_t and p_h
                  (macro newcombe_difference_bound, quantile confidence_z): within [-1, 1]
        z       = d / sqrt(p (1 - p) (1 / n_t + 1 / n_h)), p pooled; p_value = 2 (1 - Phi(|z|))
        relative_lift = d / p_holdout; incremental conversions = d x n_t
    Rates, differences, bounds and p-values rounded to 6 decimals (z to 4). is_window_complete:
    every window of the row has ended by the snapshot date (before, the counts still grow).
#}
{%- set levels = {
    'audience_date_segment': ['audience_date', 'rfm_segment'],
    'audience_date': ['audience_date'],
    'overall': [],
} -%}
with

history as (

    select * from {{ ref('audience_reactivation_history') }}

    where audience_date <= {{ reveil_as_of() }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

    where
        is_completed
        and ordered_date <= {{ reveil_as_of() }}

),

outcomes as (

    select
        history.audience_date,
        history.contact_id,
        history.rfm_segment,
        history.holdout_salt,
        history.is_holdout,
        {{ reveil_add_days('history.audience_date', var('attribution_window_days')) }}
        <= {{ reveil_as_of() }} as is_window_complete,
        count(orders.order_id) > 0 as is_converted,
        coalesce(sum(orders.amount), 0) as conversion_revenue

    from history

    left join orders
        on
            history.contact_id = orders.contact_id
            and history.audience_date < orders.ordered_date
            and {{ reveil_add_days('history.audience_date', var('attribution_window_days')) }}
            >= orders.ordered_date

    group by
        history.audience_date,
        history.contact_id,
        history.rfm_segment,
        history.holdout_salt,
        history.is_holdout

),

first_entries as (

    select
        *,
        row_number() over (
            partition by holdout_salt, contact_id
            order by audience_date
        ) as entry_order

    from outcomes

),

aggregated as (
    {% for level, group_columns in levels.items() %}
    select
        '{{ level }}' as aggregation_level,
        {{ 'audience_date' if 'audience_date' in group_columns else 'null' }} as audience_date,
        {{ 'rfm_segment' if 'rfm_segment' in group_columns else 'null' }} as rfm_segment,
        holdout_salt,
        min(audience_date) as first_audience_date,
        max(audience_date) as last_audience_date,
        {{ reveil_count_if('not is_holdout') }} as treated_count,
        {{ reveil_count_if('not is_holdout and is_converted') }} as treated_conversion_count,
        sum(case when is_holdout then 0 else conversion_revenue end) as treated_revenue,
        {{ reveil_count_if('is_holdout') }} as holdout_count,
        {{ reveil_count_if('is_holdout and is_converted') }} as holdout_conversion_count,
        sum(case when is_holdout then conversion_revenue else 0 end) as holdout_revenue,
        min(case when is_window_complete then 1 else 0 end) = 1 as is_window_complete

    {% if level == 'overall' -%}
    from first_entries

    where
        entry_order = 1
        and is_window_complete
    {%- else -%}
    from outcomes
    {%- endif %}

    group by {{ (group_columns + ['holdout_salt']) | join(', ') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

rates as (

    select
        *,
        {{ safe_ratio('treated_conversion_count', 'treated_count') }} as treated_conversion_rate,
        {{ safe_ratio('holdout_conversion_count', 'holdout_count') }} as holdout_conversion_rate,
        {{ safe_ratio(
            'treated_conversion_count + holdout_conversion_count',
            'treated_count + holdout_count'
        ) }} as pooled_conversion_rate,
        {{ safe_ratio('treated_revenue', 'treated_count') }} as treated_revenue_per_contact,
        {{ safe_ratio('holdout_revenue', 'holdout_count') }} as holdout_revenue_per_contact

    from aggregated

),

{{ two_proportion_test_ctes(
    'rates',
    'holdout_conversion_rate',
    'holdout_count',
    'treated_conversion_rate',
    'treated_count'
) }}

final as (

    select
        {{ dbt.concat([
            'aggregation_level',
            "'|'",
            "coalesce(" ~ dbt.safe_cast('audience_date', dbt.type_string()) ~ ", '')",
            "'|'",
            "coalesce(rfm_segment, '')",
            "'|'",
            'holdout_salt',
        ]) }} as lift_row_id,
        aggregation_level,
        audience_date,
        rfm_segment,
        holdout_salt,
        first_audience_date,
        last_audience_date,
        is_window_complete,
        treated_count,
        treated_conversion_count,
        {{ reveil_round('treated_conversion_rate', 6) }} as treated_conversion_rate,
        holdout_count,
        holdout_conversion_count,
        {{ reveil_round('holdout_conversion_rate', 6) }} as holdout_conversion_rate,
        {{ reveil_round('conversion_rate_difference', 6) }} as conversion_rate_difference,
        {{ reveil_round(newcombe_difference_bound(
            'treated_conversion_count', 'treated_count',
            'holdout_conversion_count', 'holdout_count', 'lower'
        ), 6) }} as difference_lower_95,
        {{ reveil_round(newcombe_difference_bound(
            'treated_conversion_count', 'treated_count',
            'holdout_conversion_count', 'holdout_count', 'upper'
        ), 6) }} as difference_upper_95,
        {{ reveil_round(
            safe_ratio('conversion_rate_difference', 'holdout_conversion_rate'), 6
        ) }} as relative_lift,
        {{ reveil_round('z_score', 4) }} as z_score,
        {{ reveil_round('p_value', 6) }} as p_value,
        coalesce(p_value < {{ var('ab_test_alpha') }}, false) as is_significant,
        {{ reveil_round('conversion_rate_difference * treated_count', 2) }}
            as incremental_conversion_count,
        treated_revenue,
        holdout_revenue,
        {{ reveil_round('treated_revenue_per_contact', 2) }} as treated_revenue_per_contact,
        {{ reveil_round('holdout_revenue_per_contact', 2) }} as holdout_revenue_per_contact,
        {{ reveil_round(
            '(treated_revenue_per_contact - holdout_revenue_per_contact) * treated_count', 2
        ) }} as incremental_revenue

    from p_valued

)

select * from final
