-- Rule: in rpt_inactive_contacts_summary every dimension splits the same sleeping contacts,
-- so each dimension's counts and revenue at stake add up to the overall row. Returns the
-- dimensions that do not.
with

summary as (

    select * from {{ ref('rpt_inactive_contacts_summary') }}

),

overall as (

    select
        inactive_contact_count,
        revenue_at_stake

    from summary

    where dimension = 'overall'

),

by_dimension as (

    select
        dimension,
        sum(inactive_contact_count) as inactive_contact_count,
        sum(revenue_at_stake) as revenue_at_stake

    from summary

    group by dimension

),

mismatched as (

    select by_dimension.*

    from by_dimension

    cross join overall

    where
        by_dimension.inactive_contact_count <> overall.inactive_contact_count
        or by_dimension.revenue_at_stake <> overall.revenue_at_stake

)

select * from mismatched
