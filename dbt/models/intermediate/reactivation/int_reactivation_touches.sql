{#
    One row per reactivation message sent to a contact (campaign x contact), up to the
    snapshot date, with what happened to it and the RFM segment the contact had the day
    before the send (never_purchased when it had no completed order then).
#}
with

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

),

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

),

reactivation_events as (

    select
        events.campaign_id,
        events.contact_id,
        events.event_type,
        events.occurred_at,
        events.is_human_open,
        events.is_machine_open

    from events

    inner join campaigns
        on events.campaign_id = campaigns.campaign_id

    where
        campaigns.is_reactivation
        and events.occurred_date <= {{ reveil_as_of() }}

),

touch_events as (

    select
        campaign_id,
        contact_id,
        min(case when event_type = 'sent' then occurred_at end) as sent_event_at,
        max(case when event_type in ('delivered', 'open', 'click') then 1 else 0 end) = 1
            as is_delivered,
        max(case when is_human_open then 1 else 0 end) = 1 as is_human_opened,
        max(case when is_machine_open then 1 else 0 end) = 1 as is_machine_opened,
        max(case when event_type = 'click' then 1 else 0 end) = 1 as is_clicked,
        max(case when event_type in ('soft_bounce', 'hard_bounce') then 1 else 0 end) = 1
            as is_bounced,
        max(case when event_type = 'hard_bounce' then 1 else 0 end) = 1 as is_hard_bounced,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) = 1 as is_unsubscribed,
        max(case when event_type = 'spam_complaint' then 1 else 0 end) = 1 as is_complained

    from reactivation_events

    group by
        campaign_id,
        contact_id

),

final as (

    select
        {{ dbt.concat(['touch_events.campaign_id', "':'", 'touch_events.contact_id']) }}
            as touch_id,
        touch_events.campaign_id,
        touch_events.contact_id,
        campaigns.campaign_name,
        campaigns.reactivation_step,
        coalesce(campaigns.variant, 'untested') as variant,
        campaigns.channel,
        campaigns.sent_date,
        coalesce(touch_events.sent_event_at, campaigns.sent_at) as touched_at,
        campaigns.cost_per_message,
        {{ business_cycle('contacts.business_type', 'contacts.industry') }} as business_cycle,
        coalesce(rfm.rfm_segment, 'never_purchased') as rfm_segment_at_send,
        touch_events.is_delivered,
        touch_events.is_human_opened,
        touch_events.is_machine_opened,
        touch_events.is_clicked,
        touch_events.is_bounced,
        touch_events.is_hard_bounced,
        touch_events.is_unsubscribed,
        touch_events.is_complained

    from touch_events

    inner join campaigns
        on touch_events.campaign_id = campaigns.campaign_id

    left join contacts
        on touch_events.contact_id = contacts.contact_id

    left join rfm
        on
            touch_events.contact_id = rfm.contact_id
            and rfm.as_of_date = {{ reveil_add_days('campaigns.sent_date', -1) }}

)

select * from final
