{#
    Completed orders attributed to a delivered reactivation message of the same contact:
    eligible when touched_at < ordered_at <= touched_at + attribution_window_days (an order at
    the very second of the send is not caused by it; one exactly at the window end still is).
    var attribution_model picks the latest eligible touch (last_touch, default) or the
    earliest (first_touch); ties on touched_at go to the smallest touch_id. Every order is
    attributed at most once.
#}
{%- if var('attribution_model') not in ['last_touch', 'first_touch'] -%}
    {{ exceptions.raise_compiler_error(
        "var attribution_model must be last_touch or first_touch, got "
        ~ var('attribution_model')
    ) }}
{%- endif %}
with

touches as (

    select * from {{ ref('int_reactivation_touches') }}

),

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

),

candidates as (

    select
        orders.order_id,
        orders.contact_id,
        orders.ordered_at,
        orders.amount,
        touches.touch_id,
        touches.campaign_id,
        touches.touched_at

    from orders

    inner join touches
        on
            orders.contact_id = touches.contact_id
            and orders.ordered_at > touches.touched_at
            and orders.ordered_at <= {{ reveil_add_days_to_timestamp(
                'touches.touched_at', var('attribution_window_days')
            ) }}

    where
        orders.is_completed
        and touches.is_delivered
        and orders.ordered_date <= {{ reveil_as_of() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by
                touched_at {{ 'asc' if var('attribution_model') == 'first_touch' else 'desc' }},
                touch_id asc
        ) as touch_rank

    from candidates

),

final as (

    select
        order_id,
        contact_id,
        touch_id,
        campaign_id,
        touched_at,
        ordered_at,
        amount,
        '{{ var("attribution_model") }}' as attribution_model

    from ranked

    where touch_rank = 1

)

select * from final
