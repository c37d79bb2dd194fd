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

{# each campaign delivered to a contact: its first and last buckets, its latest delivery #}
first_deliveries as (

    select
        contact_id,
        campaign_id,
        min(bucket_date) as bucket_date,
        max(bucket_date) as last_bucket_date,
        max(occurred_at) as last_delivered_at

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

{#
    Deliveries since the last human open, on full dates, without copying every delivery into
    every later date. A campaign counts at date D when its latest delivery up to D is later
    than the latest human open up to D. A "segment" is a campaign's latest delivery within
    one bucket; it stands for the dates from its bucket to the campaign's next bucket, and
    it counts on those dates until the first bucket where a human open follows it: its own
    bucket when that bucket's last human open is at or after the delivery, else the
    contact's next bucket with a human open (every event of a later bucket is later). Each
    segment adds 1 from its bucket and 1 is taken off where it stops counting; a running sum
    over the contact's buckets gives the count. Almost every campaign is delivered within
    one bucket: those come straight from first_deliveries; the others are grouped again.
#}
human_open_buckets as (

    select
        bucket_date,
        contact_id,
        last_human_open_at,
        min(case when last_human_open_at is not null then bucket_date end) over (
            partition by contact_id
            order by bucket_date
            rows between 1 following and unbounded following
        ) as next_human_open_bucket_date

    from buckets

),

repeated_campaign_segments as (

    select
        bucketed_events.contact_id,
        bucketed_events.campaign_id,
        bucketed_events.bucket_date,
        max(bucketed_events.occurred_at) as delivered_at

    from bucketed_events

    inner join first_deliveries
        on
            bucketed_events.contact_id = first_deliveries.contact_id
            and bucketed_events.campaign_id = first_deliveries.campaign_id

    where
        bucketed_events.event_type = 'delivered'
        and first_deliveries.bucket_date < first_deliveries.last_bucket_date

    group by
        bucketed_events.contact_id,
        bucketed_events.campaign_id,
        bucketed_events.bucket_date

),

delivery_segments as (

    select
        contact_id,
        bucket_date,
        last_delivered_at as delivered_at,
        cast(null as date) as next_segment_bucket_date

    from first_deliveries

    where bucket_date = last_bucket_date

    union all

    select
        contact_id,
        bucket_date,
        delivered_at,
        lead(bucket_date) over (
            partition by contact_id, campaign_id order by bucket_date
        ) as next_segment_bucket_date

    from repeated_campaign_segments

),

segment_spans as (

    select
        delivery_segments.contact_id,
        delivery_segments.bucket_date,
        delivery_segments.next_segment_bucket_date,
        case
            when human_open_buckets.last_human_open_at >= delivery_segments.delivered_at
                then delivery_segments.bucket_date
            else human_open_buckets.next_human_open_bucket_date
        end as opened_bucket_date

    from delivery_segments

    inner join human_open_buckets
        on
            delivery_segments.contact_id = human_open_buckets.contact_id
            and delivery_segments.bucket_date = human_open_buckets.bucket_date

),

segment_ends as (

    select
        contact_id,
        bucket_date,
        case
            when opened_bucket_date is null then next_segment_bucket_date
            when next_segment_bucket_date is null then opened_bucket_date
            when opened_bucket_date < next_segment_bucket_date then opened_bucket_date
            else next_segment_bucket_date
        end as end_bucket_date

    from segment_spans

),

unopened_delivery_changes as (

    select
        contact_id,
        bucket_date,
        sum(delivery_change) as delivery_change

    from (
        select
            contact_id,
            bucket_date,
            1 as delivery_change

        from segment_ends

        where end_bucket_date is null or end_bucket_date > bucket_date

        union all

        select
            contact_id,
            end_bucket_date as bucket_date,
            -1 as delivery_change

        from segment_ends

        where end_bucket_date > bucket_date
    ) as changes

    group by
        contact_id,
        bucket_date

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
            as delivered_message_count,
        coalesce(sum(unopened_delivery_changes.delivery_change) over running_buckets, 0)
            as delivered_since_last_human_open_count

    from buckets

    left join bucket_deliveries
        on
            buckets.bucket_date = bucket_deliveries.bucket_date
            and buckets.contact_id = bucket_deliveries.contact_id

    left join unopened_delivery_changes
        on
            buckets.bucket_date = unopened_delivery_changes.bucket_date
            and buckets.contact_id = unopened_delivery_changes.contact_id

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
            'last_delivered_at', 'delivered_message_count',
            'delivered_since_last_human_open_count'
        ]
    ) }}

),

{# the affected (date, contact) pairs of an incremental build, from their events #}
deliveries_since_human_open as (

    select
        events_by_snapshot.as_of_date,
        events_by_snapshot.contact_id,
        count(distinct events_by_snapshot.campaign_id) as delivered_since_last_human_open_count

    from events_by_snapshot

    inner join affected_last_events
        on
            events_by_snapshot.as_of_date = affected_last_events.as_of_date
            and events_by_snapshot.contact_id = affected_last_events.contact_id

    where
        events_by_snapshot.event_type = 'delivered'
        and (
            affected_last_events.last_human_open_at is null
            or events_by_snapshot.occurred_at > affected_last_events.last_human_open_at
        )

    group by
        events_by_snapshot.as_of_date,
        events_by_snapshot.contact_id

),

recomputed as (

    select
        affected_last_events.*,
        coalesce(deliveries_since_human_open.delivered_since_last_human_open_count, 0)
            as delivered_since_last_human_open_count

    from affected_last_events

    left join deliveries_since_human_open
        on
            affected_last_events.as_of_date = deliveries_since_human_open.as_of_date
            and affected_last_events.contact_id = deliveries_since_human_open.contact_id

    union all

    select * from full_last_events

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
