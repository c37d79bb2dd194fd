{#
    Where each contact touched by a reactivation message (int_reactivation_touches, any channel,
    up to the snapshot date) stands in the reactivation sequence, and the step to send next.
    The last touch is the latest touched_at (then the highest step); d = whole days from its
    date to the snapshot date.
      is_sequence_finished    the last touch was the last step (reactivation_sequence_steps).
      is_in_running_sequence  not finished and d < audience_running_sequence_days: the contact
                              waits for its next step and is left out of today's audience.
      next_sequence_step      1 when d >= audience_sequence_restart_days (a new sequence),
                              else last step + 1 when not finished, else null (a finished
                              sequence rests until the restart day).
    A contact never touched is not in this model: it starts at step 1.
#}
with

touches as (

    select * from {{ ref('int_reactivation_touches') }}

),

touches_ranked as (

    select
        contact_id,
        touched_at,
        coalesce(reactivation_step, 1) as reactivation_step,
        row_number() over (
            partition by contact_id
            order by touched_at desc, coalesce(reactivation_step, 1) desc, touch_id desc
        ) as touch_order,
        count(*) over (partition by contact_id) as touch_count

    from touches

),

last_touches as (

    select
        contact_id,
        touch_count,
        touched_at as last_touched_at,
        cast(touched_at as date) as last_touch_date,
        reactivation_step as last_touch_step,
        {{ reveil_days_between('cast(touched_at as date)', reveil_as_of()) }}
            as days_since_last_touch

    from touches_ranked

    where touch_order = 1

),

final as (

    select
        contact_id,
        touch_count,
        last_touched_at,
        last_touch_date,
        last_touch_step,
        days_since_last_touch,
        last_touch_step >= {{ var('reactivation_sequence_steps') }} as is_sequence_finished,
        last_touch_step < {{ var('reactivation_sequence_steps') }}
        and days_since_last_touch < {{ var('audience_running_sequence_days') }}
            as is_in_running_sequence,
        case
            when days_since_last_touch >= {{ var('audience_sequence_restart_days') }} then 1
            when last_touch_step < {{ var('reactivation_sequence_steps') }}
                then last_touch_step + 1
        end as next_sequence_step

    from last_touches

)

select * from final
