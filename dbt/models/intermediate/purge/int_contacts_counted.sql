{#
    The size of the contact base at the snapshot date (contacts created by then), and the month
    the snapshot falls in: the base of the monthly cap of bounce_reenable_allowance.
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

final as (

    select
        {{ reveil_as_of() }} as as_of_date,
        cast({{ dbt.date_trunc('month', reveil_as_of()) }} as date) as reenable_month,
        count(*) as contact_count

    from contacts

    where created_date <= {{ reveil_as_of() }}

)

select * from final
