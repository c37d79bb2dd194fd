{#
    One row per reactivation touch (int_reactivation_touches) with the re-engagement that
    followed it and its score, for the sales hand-off.

    An engagement counts for a touch when it happens after the touch and at most
    handoff_window_days later, and before the contact's next touch (each engagement counts for
    one touch only: the latest before it). Score = handoff_order_points x completed orders +
    handoff_click_points x clicks + handoff_human_open_points x human opens (machine opens never
    count). threshold_crossed_at is the engagement that brought the running score to
    handoff_score_threshold or above.
#}
with

touches as (

    select * from {{ ref('int_reactivation_touches') }}

),

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

    where occurred_date <= {{ reveil_as_of() }}

),

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

    where ordered_date <= {{ reveil_as_of() }}

),

touch_windows as (

    select
        touch_id,
        contact_id,
        campaign_id,
        campaign_name,
        reactivation_step,
        channel,
        touched_at,
        {{ reveil_add_days_to_timestamp('touched_at', var('handoff_window_days')) }}
            as window_end_at,
        lead(touched_at) over (
            partition by contact_id
            order by touched_at, touch_id
        ) as next_touch_at

    from touches

),

engagements as (

    select
        contact_id,
        occurred_at as engaged_at,
        'click' as engagement_kind,
        {{ var('handoff_click_points') }} as points

    from events

    where event_type = 'click'

    union all

    select
        contact_id,
        occurred_at as engaged_at,
        'human_open' as engagement_kind,
        {{ var('handoff_human_open_points') }} as points

    from events

    where is_human_open

    union all

    select
        contact_id,
        ordered_at as engaged_at,
        'completed_order' as engagement_kind,
        {{ var('handoff_order_points') }} as points

    from orders

    where is_completed

),

touch_engagements as (

    select
        touch_windows.touch_id,
        engagements.engaged_at,
        engagements.engagement_kind,
        engagements.points,
        sum(engagements.points) over (
            partition by touch_windows.touch_id
            order by engagements.engaged_at, engagements.engagement_kind
            rows between unbounded preceding and current row
        ) as running_score

    from touch_windows

    inner join engagements
        on
            touch_windows.contact_id = engagements.contact_id
            and touch_windows.touched_at < engagements.engaged_at
            and touch_windows.window_end_at >= engagements.engaged_at
            and (
                touch_windows.next_touch_at is null
                or touch_windows.next_touch_at > engagements.engaged_at
            )

),

scores as (

    select
        touch_id,
        count(case when engagement_kind = 'click' then 1 end) as click_count,
        count(case when engagement_kind = 'human_open' then 1 end) as human_open_count,
        count(case when engagement_kind = 'completed_order' then 1 end)
            as completed_order_count,
        cast(sum(points) as {{ dbt.type_bigint() }}) as reengagement_score,
        min(
            case
                when running_score >= {{ var('handoff_score_threshold') }} then engaged_at
            end
        ) as threshold_crossed_at

    from touch_engagements

    group by touch_id

),

final as (

    select
        touch_windows.touch_id,
        touch_windows.contact_id,
        touch_windows.campaign_id,
        touch_windows.campaign_name,
        touch_windows.reactivation_step,
        touch_windows.channel,
        touch_windows.touched_at,
        touch_windows.window_end_at,
        touch_windows.next_touch_at,
        coalesce(scores.click_count, 0) as click_count,
        coalesce(scores.human_open_count, 0) as human_open_count,
        coalesce(scores.completed_order_count, 0) as completed_order_count,
        coalesce(scores.reengagement_score, 0) as reengagement_score,
        scores.threshold_crossed_at

    from touch_windows

    left join scores
        on touch_windows.touch_id = scores.touch_id

)

select * from final
