{#
    One row per reactivation message sent to a contact (campaign x contact), up to the
    snapshot date, with what happened to it and the RFM segment the contact had the day
    before the send (never_purchased when it had no completed order then). The events come
    summed per message (int_reactivation_messages_aggregated).
#}
with

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

messages as (

    select * from {{ ref('int_reactivation_messages_aggregated') }}

),

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

),

touch_events as (

    select
        messages.campaign_id,
        messages.contact_id,
        messages.sent_event_at,
        messages.has_delivered or messages.has_human_open or messages.has_machine_open
        or messages.has_click as is_delivered,
        messages.has_human_open as is_human_opened,
        messages.has_machine_open as is_machine_opened,
        messages.has_click as is_clicked,
        messages.has_soft_bounce or messages.has_hard_bounce as is_bounced,
        messages.has_hard_bounce as is_hard_bounced,
        messages.has_unsubscribe as is_unsubscribed,
        messages.has_complaint as is_complained

    from messages

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
