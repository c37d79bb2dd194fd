{#
    The CLV predictions written by the Dagster asset predictions/customer_predictions, renamed.
    The table is optional (macro reveil_optional_relation): while it does not exist the view
    has no rows and every prediction in the marts reads null. Its stand-in columns are double
    (DuckDB, Spark), the type of the real table: dbt.type_float() is a 4-byte REAL on DuckDB,
    which would change the marts' column types and, mixed with decimals, round them.
#}
{%- set predictions_relation = source('predictions', 'customer_predictions') -%}
{%- set empty_select -%}
    select
        cast(null as {{ dbt.type_string() }}) as contact_id,
        cast(null as {{ dbt.type_bigint() }}) as frequency,
        cast(null as double) as recency,
        cast(null as double) as t,
        cast(null as double) as monetary_value,
        cast(null as double) as p_alive,
        cast(null as double) as p_purchase_365d,
        cast(null as double) as expected_purchases_90d,
        cast(null as double) as expected_purchases_365d,
        cast(null as double) as expected_avg_order_value,
        cast(null as double) as clv_12m,
        cast(null as {{ dbt.type_string() }}) as model,
        cast(null as {{ dbt.type_timestamp() }}) as fitted_at,
        cast(null as date) as observation_end
    from (select 1 as placeholder) as no_rows
    where 1 = 0
{%- endset -%}
with

source as (

    {{ reveil_optional_relation(predictions_relation, empty_select) }}

),

renamed as (

    select
        contact_id,
        frequency as repeat_purchase_count,
        recency as recency_weeks,
        t as customer_age_weeks,  -- column "T" (identifiers are case-insensitive)
        monetary_value as average_repeat_order_value,
        p_alive,
        p_purchase_365d,
        expected_purchases_90d,
        expected_purchases_365d,
        expected_avg_order_value as expected_average_order_value,
        clv_12m,
        model as model_name,
        fitted_at,
        observation_end as observation_end_date

    from source

)

select * from renamed
