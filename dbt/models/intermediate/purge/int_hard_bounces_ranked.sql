{#
    One row per contact whose address is dead at the snapshot date: its last hard bounce came
    after its last delivered message (or it never had one), the rule of inactivity reason
    dead_address. Ranked for re-enabling: eligible once its last hard bounce is at least
    bounce_reenable_min_days old, when it never complained, never unsubscribed and still has
    email consent; the oldest bounces come first (rank 1), then by contact_id.
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

dead_addresses as (

    select
        inactivity.contact_id,
        contacts.email,
        inactivity.last_hard_bounce_at,
        cast(inactivity.last_hard_bounce_at as date) as last_hard_bounce_date,
        inactivity.last_delivered_at,
        {{ reveil_days_between('cast(inactivity.last_hard_bounce_at as date)', reveil_as_of()) }}
            as days_since_last_hard_bounce,
        (
            {{ reveil_days_between(
                'cast(inactivity.last_hard_bounce_at as date)', reveil_as_of()
            ) }} >= {{ var('bounce_reenable_min_days') }}
            and inactivity.last_complaint_at is null
            and inactivity.last_unsubscribe_at is null
            and contacts.has_email_consent
        ) as is_reenable_eligible

    from inactivity

    inner join contacts
        on inactivity.contact_id = contacts.contact_id

    where
        inactivity.last_hard_bounce_at is not null
        and (
            inactivity.last_delivered_at is null
            or inactivity.last_hard_bounce_at > inactivity.last_delivered_at
        )

),

eligible_ranked as (

    select
        contact_id,
        row_number() over (order by last_hard_bounce_at, contact_id) as reenable_rank

    from dead_addresses

    where is_reenable_eligible

),

final as (

    select
        dead_addresses.*,
        eligible_ranked.reenable_rank

    from dead_addresses

    left join eligible_ranked
        on dead_addresses.contact_id = eligible_ranked.contact_id

)

select * from final
