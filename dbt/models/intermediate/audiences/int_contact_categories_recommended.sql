{#
    One row per customer (a completed order by the snapshot date): the category of its last
    completed order and the complementary category to recommend.
      last_purchase_category  the category of the latest completed order (latest ordered_at,
                              then largest order_id); of several in that order, the one with the
                              largest amount, then the first alphabetically.
      recommended_category    among the rules last_purchase_category -> B of
                              int_category_associations_mined whose B the customer never bought
                              (any completed order by the snapshot date): highest lift, then
                              confidence, then support, then B alphabetically. Null when none.
#}
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

order_lines as (

    select * from {{ ref('stg_raw__order_lines') }}

),

rules as (

    select * from {{ ref('int_category_associations_mined') }}

),

purchased_lines as (

    select
        orders.contact_id,
        orders.order_id,
        orders.ordered_at,
        order_lines.product_category,
        order_lines.line_amount

    from order_lines

    inner join orders
        on order_lines.order_id = orders.order_id

    where
        orders.is_completed
        and order_lines.product_category is not null
        and orders.ordered_date <= {{ reveil_as_of() }}

),

{# the last order first (two aggregates), then the categories of that order only: a window
   over every purchased line (10 M lines on 1 M contacts) ran DuckDB out of memory at 10 M #}

last_order_times as (

    select
        contact_id,
        max(ordered_at) as last_ordered_at

    from purchased_lines

    group by contact_id

),

last_orders as (

    select
        purchased_lines.contact_id,
        max(purchased_lines.order_id) as last_order_id

    from purchased_lines

    inner join last_order_times
        on
            purchased_lines.contact_id = last_order_times.contact_id
            and purchased_lines.ordered_at = last_order_times.last_ordered_at

    group by purchased_lines.contact_id

),

last_order_categories as (

    select
        purchased_lines.contact_id,
        purchased_lines.order_id,
        purchased_lines.product_category,
        sum(purchased_lines.line_amount) as category_amount

    from purchased_lines

    inner join last_orders
        on
            purchased_lines.contact_id = last_orders.contact_id
            and purchased_lines.order_id = last_orders.last_order_id

    group by
        purchased_lines.contact_id,
        purchased_lines.order_id,
        purchased_lines.product_category

),

last_categories_ranked as (

    select
        *,
        row_number() over (
            partition by contact_id
            order by
                category_amount desc,
                product_category asc
        ) as category_order

    from last_order_categories

),

last_categories as (

    select
        contact_id,
        order_id as last_order_id,
        product_category as last_purchase_category

    from last_categories_ranked

    where category_order = 1

),

purchased_categories as (

    select distinct
        contact_id,
        product_category

    from purchased_lines

),

category_counts as (

    select
        contact_id,
        count(*) as purchased_category_count

    from purchased_categories

    group by contact_id

),

recommendations_ranked as (

    select
        last_categories.contact_id,
        rules.consequent_category,
        rules.rule_support,
        rules.rule_confidence,
        rules.rule_lift,
        row_number() over (
            partition by last_categories.contact_id
            order by
                rules.rule_lift desc,
                rules.rule_confidence desc,
                rules.rule_support desc,
                rules.consequent_category asc
        ) as recommendation_order

    from last_categories

    inner join rules
        on last_categories.last_purchase_category = rules.antecedent_category

    left join purchased_categories
        on
            last_categories.contact_id = purchased_categories.contact_id
            and rules.consequent_category = purchased_categories.product_category

    where purchased_categories.contact_id is null

),

final as (

    select
        last_categories.contact_id,
        last_categories.last_order_id,
        last_categories.last_purchase_category,
        category_counts.purchased_category_count,
        recommendations_ranked.consequent_category as recommended_category,
        recommendations_ranked.rule_support as recommendation_support,
        recommendations_ranked.rule_confidence as recommendation_confidence,
        recommendations_ranked.rule_lift as recommendation_lift

    from last_categories

    inner join category_counts
        on last_categories.contact_id = category_counts.contact_id

    left join recommendations_ranked
        on
            last_categories.contact_id = recommendations_ranked.contact_id
            and recommendations_ranked.recommendation_order = 1

)

select * from final
