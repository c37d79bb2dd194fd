{# RFM scores and segment of every customer at the current snapshot (as_of_date). #}
with

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

    where as_of_date = {{ reveil_as_of() }}

),

final as (

    select
        contact_id,
        as_of_date,
        last_order_date,
        recency_days,
        frequency,
        monetary,
        recency_score,
        frequency_score,
        monetary_score,
        frequency_monetary_score,
        rfm_code,
        rfm_segment

    from rfm

)

select * from final
