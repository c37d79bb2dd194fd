{#
    Contacts to hand to sales: their re-engagement score after a reactivation touch
    (int_reactivation_touches_scored) reached handoff_score_threshold within the last
    handoff_lookback_days days (up to the snapshot date). One row per contact, its latest
    crossing. Purge candidates are never handed off. handoff_batch_id is the day's list
    (macro reveil_batch_id): the hand-off sensor exports each batch once.
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

scored as (

    select * from {{ ref('int_reactivation_touches_scored') }}

),

candidates as (

    select * from {{ ref('purge_candidates') }}

),

crossings as (

    select
        *,
        cast(threshold_crossed_at as date) as handoff_date,
        row_number() over (
            partition by contact_id
            order by threshold_crossed_at desc, touch_id desc
        ) as crossing_order

    from scored

    where
        threshold_crossed_at is not null
        and cast(threshold_crossed_at as date) <= {{ reveil_as_of() }}
        and cast(threshold_crossed_at as date)
        > {{ reveil_add_days(reveil_as_of(), -var('handoff_lookback_days')) }}

),

final as (

    select
        {{ reveil_batch_id('handoff') }} as handoff_batch_id,
        {{ reveil_as_of() }} as as_of_date,
        crossings.contact_id,
        contacts.email,
        contacts.first_name,
        contacts.last_name,
        contacts.phone,
        contacts.company_name,
        contacts.business_type,
        crossings.touch_id,
        crossings.campaign_id,
        crossings.campaign_name,
        crossings.reactivation_step,
        crossings.channel,
        cast(crossings.touched_at as date) as touched_date,
        crossings.click_count,
        crossings.human_open_count,
        crossings.completed_order_count,
        crossings.reengagement_score,
        crossings.handoff_date

    from crossings

    inner join contacts
        on crossings.contact_id = contacts.contact_id

    left join candidates
        on crossings.contact_id = candidates.contact_id

    where
        crossings.crossing_order = 1
        and candidates.contact_id is null

)

select * from final
