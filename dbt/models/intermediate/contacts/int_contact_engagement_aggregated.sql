{#
    Email/SMS/push engagement of each contact up to the current and backtest snapshot dates.
    Machine opens (privacy proxies) are kept apart: they never count as a human open.
    Incremental: a daily build recomputes only the contacts with new or late events and
    carries the others over (macros/snapshot_increment.sql).
#}
{{ reveil_snapshot_increment_config('is_current_snapshot or is_backtest_snapshot') }}

with

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

    where is_current_snapshot or is_backtest_snapshot

),

{{ reveil_snapshot_increment_ctes('events', 'occurred_date', 'snapshot_dates') }}

{# the contacts an incremental build recomputes, from their whole history #}
events_by_snapshot as (

    {{ reveil_snapshot_increment_rows(
        'events',
        'occurred_date',
        [
            'contact_id', 'campaign_id', 'event_type', 'occurred_at', 'is_human_open',
            'is_machine_open'
        ],
        full_dates=false
    ) }}

),

affected_last_events as (

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

{#
    Dates built in full (first build, --full-refresh): rather than copying every event into
    every later snapshot date, each event goes to the first full date on or after it, the
    "last" timestamps run (max) over those buckets per contact, and a running total counts
    the delivered campaigns from the bucket of their first delivery. Each running row stands
    for the dates up to the contact's next bucket.
#}
bucketed_events as {{ reveil_not_materialized() }} (

    select
        full_dates.as_of_date as bucket_date,
        events.contact_id,
        events.campaign_id,
        events.event_type,
        events.occurred_at,
        events.is_human_open,
        events.is_machine_open

    from events

    {# a range join on purpose (not reveil_snapshot_day_buckets, as the orders are): with an
       equality on the day, the first build at 10 M contacts ran out of memory at 4 GB; run
       as a nested loop over the (at most two) dates (reveil_snapshot_increment_config) #}
    inner join full_dates
        on
            events.occurred_date <= full_dates.as_of_date
            and (
                full_dates.previous_as_of_date is null
                or events.occurred_date > full_dates.previous_as_of_date
            )

),

first_deliveries as (

    select
        contact_id,
        campaign_id,
        min(bucket_date) as bucket_date

    from bucketed_events

    where event_type = 'delivered'

    group by
        contact_id,
        campaign_id

),

bucket_deliveries as (

    select
        bucket_date,
        contact_id,
        count(*) as delivered_campaign_count

    from first_deliveries

    group by
        bucket_date,
        contact_id

),

buckets as (

    select
        bucketed_events.bucket_date,
        bucketed_events.contact_id,
        max(case when bucketed_events.event_type = 'click' then bucketed_events.occurred_at end)
            as last_click_at,
        max(case when bucketed_events.is_human_open then bucketed_events.occurred_at end)
            as last_human_open_at,
        max(case when bucketed_events.is_machine_open then bucketed_events.occurred_at end)
            as last_machine_open_at,
        max(
            case
                when bucketed_events.event_type = 'unsubscribe'
                    then bucketed_events.occurred_at
            end
        ) as last_unsubscribe_at,
        max(
            case
                when bucketed_events.event_type = 'spam_complaint'
                    then bucketed_events.occurred_at
            end
        ) as last_complaint_at,
        max(
            case
                when bucketed_events.event_type = 'hard_bounce'
                    then bucketed_events.occurred_at
            end
        ) as last_hard_bounce_at,
        max(
            case when bucketed_events.event_type = 'delivered' then bucketed_events.occurred_at end
        ) as last_delivered_at

    from bucketed_events

    group by
        bucketed_events.bucket_date,
        bucketed_events.contact_id

),

running as (

    select
        buckets.bucket_date,
        buckets.contact_id,
        lead(buckets.bucket_date) over contact_buckets as next_bucket_date,
        max(buckets.last_click_at) over running_buckets as last_click_at,
        max(buckets.last_human_open_at) over running_buckets as last_human_open_at,
        max(buckets.last_machine_open_at) over running_buckets as last_machine_open_at,
        max(buckets.last_unsubscribe_at) over running_buckets as last_unsubscribe_at,
        max(buckets.last_complaint_at) over running_buckets as last_complaint_at,
        max(buckets.last_hard_bounce_at) over running_buckets as last_hard_bounce_at,
        max(buckets.last_delivered_at) over running_buckets as last_delivered_at,
        coalesce(sum(bucket_deliveries.delivered_campaign_count) over running_buckets, 0)
            as delivered_message_count

    from buckets

    left join bucket_deliveries
        on
            buckets.bucket_date = bucket_deliveries.bucket_date
            and buckets.contact_id = bucket_deliveries.contact_id

    window
        contact_buckets as (partition by buckets.contact_id order by buckets.bucket_date),
        running_buckets as (
            partition by buckets.contact_id
            order by buckets.bucket_date
            rows between unbounded preceding and current row
        )

),

full_last_events as (

    {{ reveil_snapshot_spread(
        'running',
        [
            'last_click_at', 'last_human_open_at', 'last_machine_open_at',
            'last_unsubscribe_at', 'last_complaint_at', 'last_hard_bounce_at',
            'last_delivered_at', 'delivered_message_count'
        ]
    ) }}

),

last_events as (

    select * from affected_last_events

    union all

    select * from full_last_events

),

deliveries_by_snapshot as (

    select
        as_of_date,
        contact_id,
        campaign_id,
        occurred_at

    from events_by_snapshot

    where event_type = 'delivered'

    union all

    select
        full_dates.as_of_date,
        bucketed_events.contact_id,
        bucketed_events.campaign_id,
        bucketed_events.occurred_at

    from bucketed_events

    inner join full_dates
        on bucketed_events.bucket_date <= full_dates.as_of_date

    where bucketed_events.event_type = 'delivered'

),

deliveries_since_human_open as (

    select
        deliveries_by_snapshot.as_of_date,
        deliveries_by_snapshot.contact_id,
        count(distinct deliveries_by_snapshot.campaign_id)
            as delivered_since_last_human_open_count

    from deliveries_by_snapshot

    inner join last_events
        on
            deliveries_by_snapshot.as_of_date = last_events.as_of_date
            and deliveries_by_snapshot.contact_id = last_events.contact_id

    where
        last_events.last_human_open_at is null
        or deliveries_by_snapshot.occurred_at > last_events.last_human_open_at

    group by
        deliveries_by_snapshot.as_of_date,
        deliveries_by_snapshot.contact_id

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

{# the running sum comes out as HUGEINT: stored as BIGINT, as the other counts #}
final as (

    select
        recomputed.as_of_date,
        recomputed.contact_id,
        recomputed.last_click_at,
        recomputed.last_human_open_at,
        recomputed.last_machine_open_at,
        recomputed.last_unsubscribe_at,
        recomputed.last_complaint_at,
        recomputed.last_hard_bounce_at,
        recomputed.last_delivered_at,
        cast(recomputed.delivered_message_count as {{ dbt.type_bigint() }})
            as delivered_message_count,
        cast(recomputed.delivered_since_last_human_open_count as {{ dbt.type_bigint() }})
            as delivered_since_last_human_open_count,
        (select max(events.loaded_at) from events) as source_loaded_through

    from recomputed

)

select * from final
