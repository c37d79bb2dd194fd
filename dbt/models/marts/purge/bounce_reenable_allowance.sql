{#
    How many hard-bounced addresses may be re-enabled in the month of the snapshot date: 2 % of
    the contact base, at least 10 and at most 1,000 (vars bounce_reenable_*, macro
    bounce_reenable_cap). Re-sending to dead addresses hurts the sender's reputation: the cap
    keeps a retry from ever looking like a list bought in bulk.
#}
with

counted as (

    select * from {{ ref('int_contacts_counted') }}

),

final as (

    select
        as_of_date,
        reenable_month,
        contact_count,
        {{ bounce_reenable_cap('contact_count') }} as monthly_cap

    from counted

)

select * from final
