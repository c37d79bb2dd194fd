{#
    The addresses suppressed from every send: each contact whose address is dead (its last hard
    bounce came after its last delivered message), except those re-enabled this month
    (bounce_reenable_list). Audiences must exclude these contacts.
#}
with

ranked as (

    select * from {{ ref('int_hard_bounces_ranked') }}

),

reenabled as (

    select * from {{ ref('bounce_reenable_list') }}

),

final as (

    select
        ranked.contact_id,
        ranked.email,
        ranked.last_hard_bounce_at,
        ranked.last_hard_bounce_date,
        ranked.last_delivered_at,
        ranked.days_since_last_hard_bounce,
        ranked.is_reenable_eligible

    from ranked

    left join reenabled
        on ranked.contact_id = reenabled.contact_id

    where reenabled.contact_id is null

)

select * from final
