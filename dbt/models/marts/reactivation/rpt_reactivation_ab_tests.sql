{#
    A/B test of every reactivation step that sent both variants A and B: conversion rate per
    variant (conversions / messages sent, over every campaign of the step), difference B - A,
    two-sided two-proportion z-test with pooled variance and its p-value, and Newcombe's hybrid
    score interval of the difference (quantile var confidence_z).
        pooled = (x_a + x_b) / (n_a + n_b)
        z      = (p_b - p_a) / sqrt(pooled (1 - pooled) (1 / n_a + 1 / n_b))
        p      = 2 (1 - Phi(|z|))            (Phi: macro normal_cdf, |error| ~1e-7)
        lower  = (p_b - p_a) - sqrt((p_b - l_b)^2 + (u_a - p_a)^2)
        upper  = (p_b - p_a) + sqrt((u_b - p_b)^2 + (p_a - l_a)^2)
                 (macro newcombe_difference_bound; l, u: Wilson bounds of each rate at
                 confidence_z; always within [-1, 1])
    is_significant follows the z-test (p < ab_test_alpha), not the interval: both are
    approximations, so near the threshold the interval can exclude 0 while p >= alpha, or the
    reverse. Rates, differences, bounds and p-values are rounded to 6 decimals, z to 4 (exact
    decimals). z and p are null when the pooled standard error is 0 (no conversion, or all
    converted); the interval is not (0 / n vs 0 / n: -/+ the Wilson upper bound of 0 / n).
#}
with

kpis as (

    select * from {{ ref('rpt_reactivation_kpis') }}

    where aggregation_level = 'step_variant'

),

variant_a as (

    select
        reactivation_step,
        sent_count,
        conversion_count

    from kpis

    where variant = 'A'

),

variant_b as (

    select
        reactivation_step,
        sent_count,
        conversion_count

    from kpis

    where variant = 'B'

),

paired as (

    select
        variant_a.reactivation_step,
        variant_a.sent_count as variant_a_sent_count,
        variant_a.conversion_count as variant_a_conversion_count,
        variant_b.sent_count as variant_b_sent_count,
        variant_b.conversion_count as variant_b_conversion_count,
        {{ safe_ratio('variant_a.conversion_count', 'variant_a.sent_count') }}
            as variant_a_conversion_rate,
        {{ safe_ratio('variant_b.conversion_count', 'variant_b.sent_count') }}
            as variant_b_conversion_rate,
        {{ safe_ratio(
            'variant_a.conversion_count + variant_b.conversion_count',
            'variant_a.sent_count + variant_b.sent_count'
        ) }} as pooled_conversion_rate

    from variant_a

    inner join variant_b
        on variant_a.reactivation_step = variant_b.reactivation_step

),

{{ two_proportion_test_ctes(
    'paired',
    'variant_a_conversion_rate',
    'variant_a_sent_count',
    'variant_b_conversion_rate',
    'variant_b_sent_count'
) }}

final as (

    select
        reactivation_step,
        variant_a_sent_count,
        variant_a_conversion_count,
        {{ reveil_round('variant_a_conversion_rate', 6) }} as variant_a_conversion_rate,
        variant_b_sent_count,
        variant_b_conversion_count,
        {{ reveil_round('variant_b_conversion_rate', 6) }} as variant_b_conversion_rate,
        {{ reveil_round('conversion_rate_difference', 6) }} as conversion_rate_difference,
        {{ reveil_round('z_score', 4) }} as z_score,
        {{ reveil_round('p_value', 6) }} as p_value,
        {{ reveil_round(newcombe_difference_bound(
            'variant_b_conversion_count', 'variant_b_sent_count',
            'variant_a_conversion_count', 'variant_a_sent_count', 'lower'
        ), 6) }} as difference_lower_95,
        {{ reveil_round(newcombe_difference_bound(
            'variant_b_conversion_count', 'variant_b_sent_count',
            'variant_a_conversion_count', 'variant_a_sent_count', 'upper'
        ), 6) }} as difference_upper_95,
        coalesce(p_value < {{ var('ab_test_alpha') }}, false) as is_significant

    from p_valued

)

select * from final
