{# Every contact at the current snapshot (as_of_date), with its RFM segment when a customer. #}
with

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

    where as_of_date = {{ reveil_as_of() }}

),

final as (

    select
        inactivity.*,
        coalesce(rfm.rfm_segment, 'never_purchased') as rfm_segment,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score

    from inactivity

    left join rfm
        on inactivity.contact_id = rfm.contact_id

)

select * from final
