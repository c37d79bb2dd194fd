{#
    The hard-bounced addresses re-enabled for sending in the month of the snapshot date: the
    eligible ones (int_hard_bounces_ranked), oldest bounce first, up to the monthly cap of
    bounce_reenable_allowance.
#}
with

ranked as (

    select * from {{ ref('int_hard_bounces_ranked') }}

),

allowance as (

    select * from {{ ref('bounce_reenable_allowance') }}

),

final as (

    select
        ranked.contact_id,
        ranked.email,
        allowance.reenable_month,
        ranked.reenable_rank,
        allowance.monthly_cap,
        ranked.last_hard_bounce_date,
        ranked.days_since_last_hard_bounce

    from ranked

    cross join allowance

    where
        ranked.is_reenable_eligible
        and ranked.reenable_rank <= allowance.monthly_cap

)

select * from final
