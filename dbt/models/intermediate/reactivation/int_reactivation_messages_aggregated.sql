{#
    One row per reactivation message: a reactivation campaign and a contact with at least one
    event up to the snapshot date, with a flag per canonical event type (machine and human
    opens apart) and when it was sent. The events part of int_reactivation_touches, kept
    apart so a daily build does not group the ~30 M reactivation events (1 M contacts) again.

    Incremental (DuckDB), by campaign: a build recounts only the campaigns with an event
    loaded since the previous build (late or re-delivered rows included) or dated between the
    previous snapshot date and this one (either way round: an earlier as_of_date drops
    events), and the campaigns loaded since then (a re-delivered campaign may have become a
    reactivation campaign, or stopped being one); the others keep their rows. A recounted
    campaign left with no message gets an empty row (event_count 0), deleted by the
    post-hook (macros/keyed_recount.sql). An event never moves to another campaign: the loader
    keeps an event id's first version. Limit (a --full-refresh fixes it): rows deleted from
    the source outside the purge (which erases this table's rows of purged contacts itself)
    are not noticed. Spark: a plain table.
#}
{{ reveil_keyed_recount_config('campaign_id', 'event_count = 0') }}
with

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

),

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

{% if is_incremental() %}
previous_build as (

    select
        max(counted_as_of_date) as as_of_date,
        max(source_loaded_through) as loaded_through

    from {{ this }}

),

campaigns_to_count as (

    select changed_events.campaign_id

    from ({{ reveil_events_changed_since('events', 'previous_build') }}) as changed_events

    union

    select campaigns.campaign_id

    from campaigns

    where
        coalesce(
            campaigns.loaded_at > (select previous_build.loaded_through from previous_build),
            true
        )

),

counted_campaigns as (

    select campaigns.*

    from campaigns

    where
        campaigns.is_reactivation
        and campaigns.campaign_id in (select campaigns_to_count.campaign_id from campaigns_to_count)

),
{% else %}
counted_campaigns as (

    select * from campaigns

    where is_reactivation

),
{% endif %}

counted_events as (

    select events.*

    from events

    where
        events.campaign_id in (select counted_campaigns.campaign_id from counted_campaigns)
        and events.occurred_date <= {{ reveil_as_of() }}

),

counted as (

    select
        campaign_id,
        contact_id,
        count(*) as event_count,
        min(case when event_type = 'sent' then occurred_at end) as sent_event_at,
        max(case when event_type = 'sent' then 1 else 0 end) = 1 as has_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) = 1 as has_delivered,
        max(case when is_human_open then 1 else 0 end) = 1 as has_human_open,
        max(case when is_machine_open then 1 else 0 end) = 1 as has_machine_open,
        max(case when event_type = 'click' then 1 else 0 end) = 1 as has_click,
        max(case when event_type = 'soft_bounce' then 1 else 0 end) = 1 as has_soft_bounce,
        max(case when event_type = 'hard_bounce' then 1 else 0 end) = 1 as has_hard_bounce,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) = 1 as has_unsubscribe,
        max(case when event_type = 'spam_complaint' then 1 else 0 end) = 1 as has_complaint

    from counted_events

    group by
        campaign_id,
        contact_id

),

{% if is_incremental() %}
recounted as (

    select * from counted

    union all

    select
        campaigns_to_count.campaign_id,
        cast(null as {{ dbt.type_string() }}) as contact_id,
        0 as event_count,
        cast(null as timestamp) as sent_event_at,
        false as has_sent,
        false as has_delivered,
        false as has_human_open,
        false as has_machine_open,
        false as has_click,
        false as has_soft_bounce,
        false as has_hard_bounce,
        false as has_unsubscribe,
        false as has_complaint

    from (select distinct campaign_id from campaigns_to_count) as campaigns_to_count

    where
        not exists (
            select 1
            from counted
            where counted.campaign_id = campaigns_to_count.campaign_id
        )

),
{% else %}
recounted as (

    select * from counted

),
{% endif %}

final as (

    select
        recounted.*,
        {{ reveil_as_of() }} as counted_as_of_date,
        {{ reveil_greatest([
            '(select max(events.loaded_at) from events)',
            '(select max(campaigns.loaded_at) from campaigns)',
        ]) }} as source_loaded_through

    from recounted

)

select * from final
