{#
    Config of an incremental model that recounts whole keys (a campaign's messages, a day's
    baskets, a customer's categories): delete+insert on `unique_key` on DuckDB, a plain table
    on Spark (no delete+insert on its Parquet tables: every build is a full one).

    A build selects the keys to recount and writes every row of each. A recounted key left
    with nothing (its rows re-delivered elsewhere, or out of the snapshot) still needs a row,
    or delete+insert would keep its old ones: the model writes an empty placeholder row for
    it, and the post-hook deletes the rows matching `empty_row_condition` (SQL, may hold Jinja
    rendered when the hook runs, e.g. a reveil_as_of() bound).
#}
{% macro reveil_keyed_recount_config(unique_key, empty_row_condition) %}
    {{ config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        unique_key=unique_key,
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=([] if target.type == 'spark' else [
            'delete from {{ this }} where ' ~ empty_row_condition
        ]),
    ) }}
{% endmacro %}


{#
    For the recounts keyed on orders (int_category_pairs_counted by order date,
    int_contact_categories_purchased by customer): the (contact_id, ordered_date) of the
    orders to recount since the previous build's watermark `loaded_through` (a scalar SQL
    expression): orders loaded since, orders with a line of `order_lines` loaded since (a late
    or re-delivered line changes its basket), orders matching `also_when` (on `orders`), and
    the contact and day an order re-delivered since then moved away from
    (stg_raw__orders_superseded: callers rendering this only in their incremental branch
    declare it with `-- depends_on:`). Scalar filters and a semi-join, so that DuckDB narrows
    orders and lines before anything joins them (a cross join to the watermark made it join
    every line to its order first: 1.7 s instead of 0.6 s for a day at 1 M contacts). May
    repeat a key: callers select the distinct keys they recount.
#}
{% macro reveil_orders_changed_since(orders, order_lines, loaded_through, also_when='false') %}
    select
        {{ orders }}.contact_id,
        {{ orders }}.ordered_date

    from {{ orders }}

    where
        {{ orders }}.loaded_at > ({{ loaded_through }})
        or {{ orders }}.loaded_at is null
        or ({{ also_when }})

    union all

    select
        {{ orders }}.contact_id,
        {{ orders }}.ordered_date

    from {{ orders }}

    where
        {{ orders }}.order_id in (
            select {{ order_lines }}.order_id

            from {{ order_lines }}

            where
                {{ order_lines }}.loaded_at > ({{ loaded_through }})
                or {{ order_lines }}.loaded_at is null
        )

    union all

    select
        superseded.contact_id,
        superseded.ordered_date

    from {{ ref('stg_raw__orders_superseded') }} as superseded

    where
        superseded.loaded_at > ({{ loaded_through }})
        or ({{ loaded_through }}) is null
{% endmacro %}


{# Watermark of a build reading orders and order lines: the latest loaded_at of either. #}
{% macro reveil_orders_watermark() %}
    {{ reveil_greatest([
        '(select max(loaded_at) from ' ~ ref('stg_raw__orders') ~ ')',
        '(select max(loaded_at) from ' ~ ref('stg_raw__order_lines') ~ ')',
    ]) }}
{% endmacro %}


{#
    For the recounts keyed on campaigns (int_campaign_events_counted,
    int_reactivation_messages_aggregated): the rows of `events` (a CTE over
    stg_raw__email_events) loaded since the previous build or dated between its snapshot date
    and this one (either way round: an earlier as_of_date drops events). `previous_build` is
    a one-row CTE with as_of_date and loaded_through (null when nothing is stored: every row
    then counts). Scalar filters, so DuckDB filters the scan itself.
#}
{% macro reveil_events_changed_since(events, previous_build) %}
    select {{ events }}.*

    from {{ events }}

    where
        coalesce(
            {{ events }}.loaded_at > (select loaded_through from {{ previous_build }}), true
        )
        or (
            {{ events }}.occurred_date
            > least((select as_of_date from {{ previous_build }}), {{ reveil_as_of() }})
            and {{ events }}.occurred_date
            <= greatest((select as_of_date from {{ previous_build }}), {{ reveil_as_of() }})
        )
{% endmacro %}
