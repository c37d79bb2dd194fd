{#
    Association rules between product categories, A -> B, mined from the baskets of the
    completed orders placed in the association_lookback_days days up to the snapshot date (a
    basket = the distinct categories of one order's lines), summed from the daily counts of
    int_category_pairs_counted (which holds exactly that window):
        rule_support    support(A -> B)    = baskets with A and B / baskets
        rule_confidence confidence(A -> B) = baskets with A and B / baskets with A
        rule_lift       lift(A -> B)       = confidence(A -> B) / (baskets with B / baskets)
    Kept when support >= association_min_support, confidence >= association_min_confidence and
    lift >= association_min_lift (every bound inclusive). Ratios rounded to 6 decimals.
#}
with

daily_counts as (

    select * from {{ ref('int_category_pairs_counted') }}

),

day_totals as (

    select distinct
        ordered_date,
        day_basket_count

    from daily_counts

),

basket_totals as (

    select cast(sum(day_basket_count) as {{ dbt.type_bigint() }}) as basket_count

    from day_totals

),

category_counts as (

    select
        antecedent_category as product_category,
        cast(sum(pair_basket_count) as {{ dbt.type_bigint() }}) as basket_count

    from daily_counts

    where antecedent_category = consequent_category

    group by antecedent_category

),

pair_counts as (

    select
        antecedent_category,
        consequent_category,
        cast(sum(pair_basket_count) as {{ dbt.type_bigint() }}) as pair_basket_count

    from daily_counts

    where antecedent_category <> consequent_category

    group by
        antecedent_category,
        consequent_category

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
