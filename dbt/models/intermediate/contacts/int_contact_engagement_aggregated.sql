{#
    Email/SMS/push engagement of each contact up to the current and backtest snapshot dates.
    Machine opens (privacy proxies) are kept apart: they never count as a human open.
#}
with

events as (

    select * from {{ ref('stg_raw__email_events') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

    where is_current_snapshot or is_backtest_snapshot

),

events_by_snapshot as (

    select
        snapshot_dates.as_of_date,
        events.contact_id,
        events.campaign_id,
        events.event_type,
        events.occurred_at,
        events.is_human_open,
        events.is_machine_open

    from events

    inner join snapshot_dates
        on events.occurred_date <= snapshot_dates.as_of_date

),

last_events as (

    select
        as_of_date,
        contact_id,
        max(case when event_type = 'click' then occurred_at end) as last_click_at,
        max(case when is_human_open then occurred_at end) as last_human_open_at,
        max(case when is_machine_open then occurred_at end) as last_machine_open_at,
        max(case when event_type = 'unsubscribe' then occurred_at end) as last_unsubscribe_at,
        max(case when event_type = 'spam_complaint' then occurred_at end) as last_complaint_at,
        max(case when event_type = 'hard_bounce' then occurred_at end) as last_hard_bounce_at,
        max(case when event_type = 'delivered' then occurred_at end) as last_delivered_at,
        count(distinct case when event_type = 'delivered' then campaign_id end)
            as delivered_message_count

    from events_by_snapshot

    group by
        as_of_date,
        contact_id

),

deliveries_since_human_open as (

    select
        events_by_snapshot.as_of_date,
        events_by_snapshot.contact_id,
        count(distinct events_by_snapshot.campaign_id) as delivered_since_last_human_open_count

    from events_by_snapshot

    inner join last_events
        on
            events_by_snapshot.as_of_date = last_events.as_of_date
            and events_by_snapshot.contact_id = last_events.contact_id

    where
        events_by_snapshot.event_type = 'delivered'
        and (
            last_events.last_human_open_at is null
            or events_by_snapshot.occurred_at > last_events.last_human_open_at
        )

    group by
        events_by_snapshot.as_of_date,
        events_by_snapshot.contact_id

),

final as (

    select
        last_events.*,
        coalesce(deliveries_since_human_open.delivered_since_last_human_open_count, 0)
            as delivered_since_last_human_open_count

    from last_events

    left join deliveries_since_human_open
        on
            last_events.as_of_date = deliveries_since_human_open.as_of_date
            and last_events.contact_id = deliveries_since_human_open.contact_id

)

select * from final
