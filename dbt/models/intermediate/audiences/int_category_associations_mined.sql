{#
    Association rules between product categories, A -> B, mined from the baskets of the
    completed orders placed in the association_lookback_days days up to the snapshot date (a
    basket = the distinct categories of one order's lines):
        rule_support    support(A -> B)    = baskets with A and B / baskets
        rule_confidence confidence(A -> B) = baskets with A and B / baskets with A
        rule_lift       lift(A -> B)       = confidence(A -> B) / (baskets with B / baskets)
    Kept when support >= association_min_support, confidence >= association_min_confidence and
    lift >= association_min_lift (every bound inclusive). Ratios rounded to 6 decimals.
#}
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

order_lines as (

    select * from {{ ref('stg_raw__order_lines') }}

),

baskets as (

    select distinct
        order_lines.order_id,
        order_lines.product_category

    from order_lines

    inner join orders
        on order_lines.order_id = orders.order_id

    where
        orders.is_completed
        and order_lines.product_category is not null
        and orders.ordered_date <= {{ reveil_as_of() }}
        and orders.ordered_date > {{ reveil_as_of(-var('association_lookback_days')) }}

),

basket_totals as (

    select count(distinct order_id) as basket_count

    from baskets

),

category_counts as (

    select
        product_category,
        count(*) as basket_count

    from baskets

    group by product_category

),

pair_counts as (

    select
        antecedents.product_category as antecedent_category,
        consequents.product_category as consequent_category,
        count(*) as pair_basket_count

    from baskets as antecedents

    inner join baskets as consequents
        on
            antecedents.order_id = consequents.order_id
            and antecedents.product_category <> consequents.product_category

    group by
        antecedents.product_category,
        consequents.product_category

),

measured as (

    select
        pair_counts.antecedent_category,
        pair_counts.consequent_category,
        pair_counts.pair_basket_count,
        antecedent_counts.basket_count as antecedent_basket_count,
        consequent_counts.basket_count as consequent_basket_count,
        basket_totals.basket_count,
        {{ safe_ratio('pair_counts.pair_basket_count', 'basket_totals.basket_count') }}
            as rule_support,
        {{ safe_ratio('pair_counts.pair_basket_count', 'antecedent_counts.basket_count') }}
            as rule_confidence,
        {{ safe_ratio(
            'pair_counts.pair_basket_count * basket_totals.basket_count',
            'antecedent_counts.basket_count * consequent_counts.basket_count'
        ) }} as rule_lift

    from pair_counts

    inner join category_counts as antecedent_counts
        on pair_counts.antecedent_category = antecedent_counts.product_category

    inner join category_counts as consequent_counts
        on pair_counts.consequent_category = consequent_counts.product_category

    cross join basket_totals

),

final as (

    select
        antecedent_category,
        consequent_category,
        pair_basket_count,
        antecedent_basket_count,
        consequent_basket_count,
        basket_count,
        {{ reveil_round('rule_support', 6) }} as rule_support,
        {{ reveil_round('rule_confidence', 6) }} as rule_confidence,
        {{ reveil_round('rule_lift', 6) }} as rule_lift

    from measured

    where
        rule_support >= {{ var('association_min_support') }}
        and rule_confidence >= {{ var('association_min_confidence') }}
        and rule_lift >= {{ var('association_min_lift') }}

)

select * from final
