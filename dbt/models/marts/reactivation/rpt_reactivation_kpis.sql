{#
    KPIs of the reactivation campaigns, in one long table of aggregation levels:
      campaign_segment  campaign x RFM segment at send (campaign columns filled in)
      campaign          one campaign (its step, variant and channel filled in)
      step              reactivation step, every campaign and variant
      step_variant      reactivation step x A/B variant (input of rpt_reactivation_ab_tests)
      channel           email / sms / push
      segment           RFM segment at send
      overall           everything
    A null dimension column means "all" at that level (untested campaigns have variant
    'untested'). Counts are of touches (one contact in one campaign); rates are computed at
    the level, so never average them across rows: sum the counts instead.
#}
{%- set dimension_columns = [
    'campaign_id', 'campaign_name', 'reactivation_step', 'variant', 'channel',
    'rfm_segment_at_send',
] -%}
{%- set campaign_columns = [
    'campaign_id', 'campaign_name', 'reactivation_step', 'variant', 'channel',
] -%}
{%- set levels = {
    'campaign_segment': campaign_columns + ['rfm_segment_at_send'],
    'campaign': campaign_columns,
    'step': ['reactivation_step'],
    'step_variant': ['reactivation_step', 'variant'],
    'channel': ['channel'],
    'segment': ['rfm_segment_at_send'],
    'overall': [],
} -%}
{%- set key_parts = ["aggregation_level"] -%}
{%- for column in dimension_columns -%}
    {%- do key_parts.extend([
        "'|'",
        "coalesce(" ~ dbt.safe_cast(column, dbt.type_string()) ~ ", '')",
    ]) -%}
{%- endfor %}
with

touches as (

    select * from {{ ref('int_reactivation_touches_measured') }}

),

aggregated as (
    {% for level, group_columns in levels.items() %}
    select
        '{{ level }}' as aggregation_level,
        {%- for column in dimension_columns %}
        {{ column if column in group_columns else 'null' }} as {{ column }},
        {%- endfor %}
        cast(count(*) as bigint) as sent_count,
        {{ reveil_count_if('is_delivered') }} as delivered_count,
        {{ reveil_count_if('is_human_opened') }} as human_open_count,
        {{ reveil_count_if('is_clicked') }} as click_count,
        -- touches opened by a person or clicked: a click proves a human open even when the
        -- open itself was masked by a privacy proxy (Apple MPP)
        {{ reveil_count_if('is_human_opened or is_clicked') }} as engaged_count,
        {{ reveil_count_if('is_bounced') }} as bounce_count,
        {{ reveil_count_if('is_unsubscribed') }} as unsubscribe_count,
        {{ reveil_count_if('is_complained') }} as complaint_count,
        {{ reveil_count_if('is_converted') }} as conversion_count,
        cast(sum(attributed_order_count) as bigint) as attributed_order_count,
        sum(attributed_revenue) as attributed_revenue,
        cast(sum(cost_per_message) as decimal(18, 4)) as message_cost,
        {{ reveil_count_if('is_short_horizon_measurable') }}
            as durable_short_measurable_count,
        {{ reveil_count_if('is_durably_reengaged_short') }} as durable_short_count,
        {{ reveil_count_if('is_long_horizon_measurable') }}
            as durable_long_measurable_count,
        {{ reveil_count_if('is_durably_reengaged_long') }} as durable_long_count

    from touches
    {% if group_columns %}
    group by {{ group_columns | join(', ') }}
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (

    select
        {{ dbt.concat(key_parts) }} as kpi_row_id,
        aggregation_level,
        campaign_id,
        campaign_name,
        reactivation_step,
        variant,
        channel,
        rfm_segment_at_send,
        sent_count,
        delivered_count,
        human_open_count,
        click_count,
        bounce_count,
        unsubscribe_count,
        complaint_count,
        conversion_count,
        attributed_order_count,
        attributed_revenue,
        message_cost,
        {{ safe_ratio('delivered_count', 'sent_count') }} as delivery_rate,
        {{ safe_ratio('human_open_count', 'delivered_count') }} as human_open_rate,
        {{ safe_ratio('click_count', 'delivered_count') }} as click_rate,
        {{ safe_ratio('click_count', 'engaged_count') }} as click_to_open_rate,
        {{ safe_ratio('bounce_count', 'sent_count') }} as bounce_rate,
        {{ safe_ratio('unsubscribe_count', 'delivered_count') }} as unsubscribe_rate,
        {{ safe_ratio('complaint_count', 'delivered_count') }} as complaint_rate,
        {{ safe_ratio('conversion_count', 'sent_count') }} as conversion_rate,
        {{ safe_ratio('attributed_revenue - message_cost', 'message_cost') }} as roi,
        {{ safe_ratio('message_cost', 'conversion_count') }} as cost_per_reactivated_customer,
        {{ safe_ratio('attributed_revenue', 'conversion_count') }}
            as value_recovered_per_reactivated_customer,
        cast({{ var('new_customer_acquisition_cost') }} as decimal(14, 2))
            as new_customer_acquisition_cost,
        {{ safe_ratio(
            safe_ratio('message_cost', 'conversion_count'), var('new_customer_acquisition_cost')
        ) }} as reactivation_to_acquisition_cost_ratio,
        durable_short_measurable_count,
        durable_short_count,
        {{ safe_ratio('durable_short_count', 'durable_short_measurable_count') }}
            as durable_short_rate,
        durable_long_measurable_count,
        durable_long_count,
        {{ safe_ratio('durable_long_count', 'durable_long_measurable_count') }}
            as durable_long_rate

    from aggregated

)

select * from final
