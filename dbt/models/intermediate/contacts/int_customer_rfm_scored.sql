{#
    RFM of every customer (at least one completed order) at every snapshot date.
    Scores 1..rfm_score_buckets (5 = best) from ntile over the snapshot's customers:
      recency_score   ntile over recency_days descending (most recent = highest);
      frequency_score ntile over completed orders ascending;
      monetary_score  ntile over revenue ascending.
    Ties are broken by contact_id (ascending) so reruns give the same scores; customers with
    equal values on both sides of a bucket boundary therefore get adjacent scores.
    frequency_monetary_score = (F + M) / 2 rounded half up; the segment comes from the seed
    rfm_segment_map (recency_score x frequency_monetary_score), the same map at every date.
#}
with

orders_aggregated as (

    select * from {{ ref('int_contact_orders_aggregated') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

measured as (

    select
        as_of_date,
        contact_id,
        cast(last_order_at as date) as last_order_date,
        {{ reveil_days_between('cast(last_order_at as date)', 'as_of_date') }} as recency_days,
        completed_order_count as frequency,
        lifetime_revenue as monetary

    from orders_aggregated

    where completed_order_count > 0

),

scored as (

    select
        *,
        ntile({{ var('rfm_score_buckets') }}) over (
            partition by as_of_date
            order by recency_days desc, contact_id asc
        ) as recency_score,
        ntile({{ var('rfm_score_buckets') }}) over (
            partition by as_of_date
            order by frequency asc, contact_id asc
        ) as frequency_score,
        ntile({{ var('rfm_score_buckets') }}) over (
            partition by as_of_date
            order by monetary asc, contact_id asc
        ) as monetary_score

    from measured

),

combined as (

    select
        *,
        cast(floor((frequency_score + monetary_score + 1) / 2.0) as integer)
            as frequency_monetary_score

    from scored

),

final as (

    select
        combined.as_of_date,
        combined.contact_id,
        combined.last_order_date,
        combined.recency_days,
        combined.frequency,
        combined.monetary,
        combined.recency_score,
        combined.frequency_score,
        combined.monetary_score,
        combined.frequency_monetary_score,
        {{ dbt.concat([
            dbt.safe_cast('combined.recency_score', dbt.type_string()),
            dbt.safe_cast('combined.frequency_score', dbt.type_string()),
            dbt.safe_cast('combined.monetary_score', dbt.type_string()),
        ]) }} as rfm_code,
        segment_map.rfm_segment

    from combined

    left join segment_map
        on
            combined.recency_score = segment_map.recency_score
            and combined.frequency_monetary_score = segment_map.frequency_monetary_score

)

select * from final
