-- Rule: the seed rfm_segment_map gives a segment to every cell of the RFM grid, i.e. every
-- recency_score x frequency_monetary_score pair in 1..rfm_score_buckets; otherwise a customer
-- could fall outside every segment. Returns the missing cells.
with

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

scores as (
    {% for score in range(1, var('rfm_score_buckets') + 1) %}
    select {{ score }} as score
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

grid as (

    select
        recency.score as recency_score,
        frequency_monetary.score as frequency_monetary_score

    from scores as recency

    cross join scores as frequency_monetary

),

missing as (

    select grid.*

    from grid

    left join segment_map
        on
            grid.recency_score = segment_map.recency_score
            and grid.frequency_monetary_score = segment_map.frequency_monetary_score

    where segment_map.rfm_segment is null

)

select * from missing
