{#
    Every contact at the current snapshot (as_of_date), with its RFM segment when a customer,
    and its CLV predictions (stg_predictions__customer_predictions) when they were computed
    for this snapshot date. predicted_value_at_stake = p_alive x clv_12m for a sleeping
    (inactive or lost) customer, 0 for an awake contact or a contact without completed
    order, null for everyone when no prediction of this snapshot date exists.
#}
with

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

    where as_of_date = {{ reveil_as_of() }}

),

predictions as (

    select * from {{ ref('stg_predictions__customer_predictions') }}

    where observation_end_date = {{ reveil_as_of() }}

),

prediction_coverage as (

    select count(clv_12m) as valued_customer_count

    from predictions

),

final as (

    select
        inactivity.*,
        coalesce(rfm.rfm_segment, 'never_purchased') as rfm_segment,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        predictions.p_alive,
        predictions.p_purchase_365d,
        predictions.clv_12m,
        case
            when prediction_coverage.valued_customer_count = 0 then null
            when not inactivity.is_inactive then 0
            when inactivity.completed_order_count = 0 then 0
            else predictions.p_alive * predictions.clv_12m
        end as predicted_value_at_stake

    from inactivity

    cross join prediction_coverage

    left join rfm
        on inactivity.contact_id = rfm.contact_id

    left join predictions
        on inactivity.contact_id = predictions.contact_id

)

select * from final
