{#
    Email/SMS/push engagement of each contact up to the current and backtest snapshot dates.
    Machine opens (privacy proxies) are kept apart: they never count as a human open.
    Incremental: a daily build recomputes only the contacts with new or late events and
    carries the others over (macros/snapshot_increment.sql).
#}
{{ reveil_snapshot_increment_config('is_current_snapshot or is_backtest_snapshot') }}

with

events as (

    select * from {{ ref('stg_raw__email_events') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

    where is_current_snapshot or is_backtest_snapshot

),

{{ reveil_snapshot_increment_ctes('events', 'occurred_date', 'snapshot_dates') }}

events_by_snapshot as (

    {{ reveil_snapshot_increment_rows(
        'events',
        'occurred_date',
        [
            'contact_id', 'campaign_id', 'event_type', 'occurred_at', 'is_human_open',
            'is_machine_open'
        ],
    ) }}

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

recomputed as (

    select
        last_events.*,
        coalesce(deliveries_since_human_open.delivered_since_last_human_open_count, 0)
            as delivered_since_last_human_open_count

    from last_events

    left join deliveries_since_human_open
        on
            last_events.as_of_date = deliveries_since_human_open.as_of_date
            and last_events.contact_id = deliveries_since_human_open.contact_id

    {% if is_incremental() %}

    union all

    {{ reveil_snapshot_increment_carried([
        'last_click_at', 'last_human_open_at', 'last_machine_open_at', 'last_unsubscribe_at',
        'last_complaint_at', 'last_hard_bounce_at', 'last_delivered_at',
        'delivered_message_count', 'delivered_since_last_human_open_count'
    ]) }}

    {% endif %}

),

final as (

    select
        recomputed.*,
        (select max(events.loaded_at) from events) as source_loaded_through

    from recomputed

)

select * from final
