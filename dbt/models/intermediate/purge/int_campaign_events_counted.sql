{#
    Contacts per campaign and event kind (sent, delivered, spam complaint), over the events up
    to the snapshot date: the counts behind rpt_campaign_complaint_rates.

    Incremental (DuckDB): a build recounts only the campaigns with an event loaded since the
    previous build (late or re-delivered rows included) or dated between the previous
    snapshot date and this one (either way round: an earlier as_of_date drops events); the
    others keep their counts. A recounted campaign left with no event gets an empty row, so
    delete+insert replaces its old one, which the post-hook then deletes
    (macros/keyed_recount.sql). Spark: a plain table.
#}
{{ reveil_keyed_recount_config('campaign_id', 'event_count = 0') }}
with

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

),

{% if is_incremental() %}
previous_build as (

    select
        max(counted_as_of_date) as as_of_date,
        max(source_loaded_through) as loaded_through

    from {{ this }}

),

campaigns_to_count as (

    select distinct changed_events.campaign_id

    from ({{ reveil_events_changed_since('events', 'previous_build') }}) as changed_events

),

counted_events as (

    select events.*

    from events

    inner join campaigns_to_count
        on events.campaign_id = campaigns_to_count.campaign_id

    where events.occurred_date <= {{ reveil_as_of() }}

),
{% else %}
counted_events as (

    select * from events

    where occurred_date <= {{ reveil_as_of() }}

),
{% endif %}

{# one grouping by message, then sums: three count(distinct) cost DuckDB three groupings #}
counted_messages as (

    select
        campaign_id,
        contact_id,
        count(*) as event_count,
        max(case when event_type = 'sent' then 1 else 0 end) as is_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type = 'spam_complaint' then 1 else 0 end) as is_complained

    from counted_events

    group by
        campaign_id,
        contact_id

),

counted as (

    select
        campaign_id,
        cast(sum(event_count) as {{ dbt.type_bigint() }}) as event_count,
        cast(sum(is_sent) as {{ dbt.type_bigint() }}) as sent_count,
        cast(sum(is_delivered) as {{ dbt.type_bigint() }}) as delivered_count,
        cast(sum(is_complained) as {{ dbt.type_bigint() }}) as complaint_count

    from counted_messages

    group by campaign_id

),

{% if is_incremental() %}
recounted as (

    select * from counted

    union all

    select
        campaigns_to_count.campaign_id,
        0 as event_count,
        0 as sent_count,
        0 as delivered_count,
        0 as complaint_count

    from campaigns_to_count

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
        (select max(events.loaded_at) from events) as source_loaded_through

    from recounted

)

select * from final
