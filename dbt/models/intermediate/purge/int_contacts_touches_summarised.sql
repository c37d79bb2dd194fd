{#
    One row per contact that received at least one reactivation touch up to the snapshot date:
    what it received, whether it answered, and the silent sequence the sunset rule looks at.

    A touch is a row of int_reactivation_touches: one reactivation campaign (any step, any
    channel) sent to the contact, at its sent event. Engagement is a click, a human open (never a
    machine open: privacy proxies) or a completed order, as in int_contact_inactivity_classified.

    Sunset sequence (rule sunset_silent of purge_candidates), every bound inclusive:
      - a sequence starts at a touch sent AFTER the contact's last engagement, so no engagement
        follows its first touch;
      - it counts the touches sent from that first touch up to purge_max_weeks * 7 days later;
      - it qualifies when it counts >= purge_min_touches touches, its first and last counted
        touches are >= purge_min_weeks * 7 days apart, and >= purge_response_days have passed
        since its last counted touch.
    Every silent touch is tried as a start and the earliest qualifying one is kept, so a contact
    that clicked once and then ignored three later, spread-out touches still qualifies, and an
    old isolated touch does not hide a later complete sequence.
#}
with

touches as (

    select * from {{ ref('int_reactivation_touches') }}

),

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

engagement as (

    select
        contact_id,
        {{ reveil_greatest(['last_click_at', 'last_human_open_at', 'last_purchase_at']) }}
            as last_engagement_at

    from inactivity

),

touches_with_engagement as (

    select
        touches.contact_id,
        touches.touch_id,
        touches.touched_at,
        cast(touches.touched_at as date) as touched_date,
        engagement.last_engagement_at,
        coalesce(touches.touched_at > engagement.last_engagement_at, true)
            as is_after_last_engagement

    from touches

    left join engagement
        on touches.contact_id = engagement.contact_id

),

all_touches as (

    select
        contact_id,
        min(touched_at) as first_touch_at,
        max(touched_at) as last_touch_at,
        count(*) as touch_count,
        max(last_engagement_at) as last_engagement_at,
        coalesce(max(last_engagement_at) > min(touched_at), false)
            as has_engaged_since_first_touch,
        count(case when is_after_last_engagement then 1 end) as silent_touch_count

    from touches_with_engagement

    group by contact_id

),

sequence_windows as (

    -- every silent touch tried as the first touch of a sequence (touches sent at the same
    -- instant start the same sequence), with the touches counted in its window
    select
        sequence_starts.contact_id,
        sequence_starts.touched_at as sequence_first_touch_at,
        sequence_starts.touched_date as sequence_first_touch_date,
        max(counted.touched_at) as sequence_last_touch_at,
        max(counted.touched_date) as sequence_last_touch_date,
        count(distinct counted.touch_id) as sequence_touch_count

    from touches_with_engagement as sequence_starts

    inner join touches_with_engagement as counted
        on
            sequence_starts.contact_id = counted.contact_id
            and sequence_starts.touched_at <= counted.touched_at
            and {{ reveil_add_days('sequence_starts.touched_date', var('purge_max_weeks') * 7) }}
            >= counted.touched_date

    where sequence_starts.is_after_last_engagement

    group by
        sequence_starts.contact_id,
        sequence_starts.touched_at,
        sequence_starts.touched_date

),

qualifying_sequences as (

    select
        *,
        {{ reveil_days_between('sequence_first_touch_date', 'sequence_last_touch_date') }}
            as sequence_days_spanned,
        row_number() over (
            partition by contact_id
            order by sequence_first_touch_at
        ) as sequence_order

    from sequence_windows

    where
        sequence_touch_count >= {{ var('purge_min_touches') }}
        and {{ reveil_days_between('sequence_first_touch_date', 'sequence_last_touch_date') }}
        >= {{ var('purge_min_weeks') * 7 }}
        and {{ reveil_add_days('sequence_last_touch_date', var('purge_response_days')) }}
        <= {{ reveil_as_of() }}

),

final as (

    select
        all_touches.contact_id,
        all_touches.first_touch_at,
        all_touches.last_touch_at,
        cast(all_touches.first_touch_at as date) as first_touch_date,
        cast(all_touches.last_touch_at as date) as last_touch_date,
        all_touches.touch_count,
        {{ reveil_days_between(
            'cast(all_touches.first_touch_at as date)', 'cast(all_touches.last_touch_at as date)'
        ) }} as touch_days_spanned,
        all_touches.last_engagement_at,
        cast(all_touches.last_engagement_at as date) as last_engagement_date,
        all_touches.has_engaged_since_first_touch,
        all_touches.silent_touch_count,
        qualifying_sequences.contact_id is not null as has_silent_sunset_sequence,
        qualifying_sequences.sequence_first_touch_date,
        qualifying_sequences.sequence_last_touch_date,
        qualifying_sequences.sequence_touch_count,
        qualifying_sequences.sequence_days_spanned

    from all_touches

    left join qualifying_sequences
        on
            all_touches.contact_id = qualifying_sequences.contact_id
            and qualifying_sequences.sequence_order = 1

)

select * from final
