{#
    Basket counts per order date, the daily building blocks of int_category_associations_mined:
    one row per date of the association window (association_lookback_days days up to the
    snapshot date) and pair of categories (A, B) found together in a basket (the distinct
    categories of one completed order's lines). A = B counts the baskets holding A.

    Incremental (DuckDB): a build recounts only the dates of the window that have an order or
    an order line loaded since the previous build (late or re-delivered rows included), that an
    order re-delivered since to another date left (stg_raw__orders_superseded) or that are not
    stored yet (the window moved); the other dates keep their counts. A recounted date left
    with no basket gets an empty row, so delete+insert replaces its old rows, which the
    post-hook then deletes with the dates that left the window. Limit (a --full-refresh fixes
    it): rows deleted from the source are not noticed. Spark: a plain table.
#}
{{ reveil_keyed_recount_config(
    'ordered_date',
    "day_basket_count = 0
        or ordered_date <= {{ reveil_as_of(-var('association_lookback_days')) }}
        or ordered_date > {{ reveil_as_of() }}"
) }}
-- depends_on: {{ ref('stg_raw__orders_superseded') }}
with

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

    where
        ordered_date <= {{ reveil_as_of() }}
        and ordered_date > {{ reveil_as_of(-var('association_lookback_days')) }}

),

order_lines as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__order_lines') }}

),

{% if is_incremental() %}
previous_build as (

    select max(source_loaded_through) as loaded_through

    from {{ this }}

),

stored_dates as (

    select distinct ordered_date

    from {{ this }}

),

{# the days of the window with an order or line loaded since, and the days new to it #}
dates_to_count as (

    select distinct changed_orders.ordered_date

    from (
        {{ reveil_orders_changed_since(
            'orders',
            'order_lines',
            'select previous_build.loaded_through from previous_build',
            'orders.ordered_date not in (select stored_dates.ordered_date from stored_dates)'
        ) }}
    ) as changed_orders

),

counted_orders as (

    select orders.*

    from orders

    where orders.ordered_date in (select dates_to_count.ordered_date from dates_to_count)

),
{% else %}
counted_orders as (

    select * from orders

),
{% endif %}

{# baskets is read three times: not materialized, and plain GROUP BYs rather than a
   count(distinct) per day. The first build at 10 M contacts still needs DuckDB's 4 GB limit
   (40 s); at 3 GB even the baskets aggregate alone ran out of memory. #}
baskets as {{ reveil_not_materialized() }} (

    select
        counted_orders.ordered_date,
        counted_orders.order_id,
        order_lines.product_category

    from order_lines

    inner join counted_orders
        on order_lines.order_id = counted_orders.order_id

    where
        counted_orders.is_completed
        and order_lines.product_category is not null

    group by
        counted_orders.ordered_date,
        counted_orders.order_id,
        order_lines.product_category

),

basket_orders as (

    select
        ordered_date,
        order_id

    from baskets

    group by
        ordered_date,
        order_id

),

day_totals as (

    select
        ordered_date,
        count(*) as day_basket_count

    from basket_orders

    group by ordered_date

),

pair_counts as (

    select
        antecedents.ordered_date,
        antecedents.product_category as antecedent_category,
        consequents.product_category as consequent_category,
        count(*) as pair_basket_count

    from baskets as antecedents

    inner join baskets as consequents
        on antecedents.order_id = consequents.order_id

    group by
        antecedents.ordered_date,
        antecedents.product_category,
        consequents.product_category

),

counted as (

    select
        pair_counts.ordered_date,
        pair_counts.antecedent_category,
        pair_counts.consequent_category,
        pair_counts.pair_basket_count,
        day_totals.day_basket_count

    from pair_counts

    inner join day_totals
        on pair_counts.ordered_date = day_totals.ordered_date

),

{% if is_incremental() %}
recounted as (

    select * from counted

    union all

    select
        dates_to_count.ordered_date,
        cast(null as {{ dbt.type_string() }}) as antecedent_category,
        cast(null as {{ dbt.type_string() }}) as consequent_category,
        0 as pair_basket_count,
        0 as day_basket_count

    from dates_to_count

    where dates_to_count.ordered_date not in (select day_totals.ordered_date from day_totals)

),
{% else %}
recounted as (

    select * from counted

),
{% endif %}

watermark as (

    select {{ reveil_orders_watermark() }} as source_loaded_through

),

final as (

    select
        recounted.*,
        watermark.source_loaded_through

    from recounted

    cross join watermark

)

select * from final
