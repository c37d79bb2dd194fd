{#
    One row per customer (a completed order by the snapshot date): the category of its last
    completed order and the complementary category to recommend, from the categories it
    bought (int_contact_categories_purchased, incremental) and today's rules.
      last_purchase_category  the category of the latest completed order (latest ordered_at,
                              then largest order_id); of several in that order, the one with the
                              largest amount, then the first alphabetically.
      recommended_category    among the rules last_purchase_category -> B of
                              int_category_associations_mined whose B the customer never bought
                              (any completed order by the snapshot date): highest lift, then
                              confidence, then support, then B alphabetically. Null when none.
#}
with

purchased_categories as (

    select * from {{ ref('int_contact_categories_purchased') }}

),

rules as (

    select * from {{ ref('int_category_associations_mined') }}

),

last_categories as (

    select
        contact_id,
        last_order_id,
        product_category as last_purchase_category

    from purchased_categories

    where is_last_purchase_category

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
