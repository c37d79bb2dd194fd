{#
    Statistics that neither DuckDB nor Spark SQL ship, as portable expressions (abs, sign,
    exp, sqrt only). Pass column names or parenthesised expressions: they are repeated.
#}

{#
    Standard normal CDF Phi(x) = (1 + erf(x / sqrt(2))) / 2, with erf from Abramowitz & Stegun
    formula 7.1.26 (|error of erf| <= 1.5e-7, so Phi is within ~1e-7 of the exact value):
        erf(y) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) exp(-y^2),  t = 1 / (1 + p y)
    for y >= 0, and erf(-y) = -erf(y). Checked against scipy.stats.norm.cdf in the unit test
    of rpt_reactivation_ab_tests.
#}
{% macro normal_cdf(x) -%}
    {%- set y = "(abs(" ~ x ~ ") / sqrt(2.0))" -%}
    {%- set t = "(1.0 / (1.0 + 0.3275911 * " ~ y ~ "))" -%}
    (0.5 * (1.0 + sign({{ x }}) * (1.0 - (
        0.254829592 * {{ t }}
        - 0.284496736 * power({{ t }}, 2)
        + 1.421413741 * power({{ t }}, 3)
        - 1.453152027 * power({{ t }}, 4)
        + 1.061405429 * power({{ t }}, 5)
    ) * exp(-{{ y }} * {{ y }}))))
{%- endmacro %}

{#
    Wilson score interval of a proportion successes / trials at normal quantile z
    (var confidence_z): bound = 'lower' or 'upper'. Null when trials = 0.
        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    Clamped to [0, 1]: exact arithmetic gives lower = 0 at 0 successes and upper = 1 at
    n / n, but in floating point centre - half comes out ~ -3e-17 (0 / 5) and centre + half
    ~ 1 + 2e-16 (11 / 11, 13 / 13, ...), outside the [0, 1] a rate's gate allows. greatest()
    and least() skip nulls (DuckDB and Spark), hence the explicit null when trials = 0.
#}
{% macro wilson_bound(successes, trials, bound) -%}
    {%- set z = var('confidence_z') -%}
    {%- set n = "cast(nullif(" ~ trials ~ ", 0) as double)" -%}
    {%- set p = "(" ~ successes ~ " / " ~ n ~ ")" -%}
    case when {{ n }} is not null then least(1.0, greatest(0.0, (
        ({{ p }} + {{ z }} * {{ z }} / (2 * {{ n }}))
        {{ '-' if bound == 'lower' else '+' }} {{ z }} * sqrt(
            {{ p }} * (1 - {{ p }}) / {{ n }} + {{ z }} * {{ z }} / (4 * {{ n }} * {{ n }})
        )
    ) / (1 + {{ z }} * {{ z }} / {{ n }}))) end
{%- endmacro %}

{# numerator / denominator, null when the denominator is 0 or null. #}
{% macro safe_ratio(numerator, denominator) -%}
    (({{ numerator }}) / cast(nullif({{ denominator }}, 0) as double))
{%- endmacro %}

{# A statistic rounded to a fixed number of decimals, as an exact decimal (stable to compare). #}
{% macro reveil_round(expression, decimals) -%}
    cast(round({{ expression }}, {{ decimals }}) as decimal(18, {{ decimals }}))
{%- endmacro %}


{#
    Two-proportion z-test, as three CTEs (standard_errors, tested, p_valued) over
    `source_cte`, which has the rates, counts and pooled_conversion_rate of a baseline and a
    test group: conversion_rate_difference (test - baseline), unpooled_standard_error (for
    the confidence interval of the difference), pooled_standard_error, z_score and the
    two-sided p_value. Used by rpt_reactivation_ab_tests and rpt_audience_lift.
#}
{% macro two_proportion_test_ctes(source_cte, baseline_rate, baseline_count, test_rate, test_count) %}
standard_errors as (

    select
        *,
        {{ test_rate }} - {{ baseline_rate }} as conversion_rate_difference,
        sqrt(
            pooled_conversion_rate * (1 - pooled_conversion_rate)
            * (1.0 / {{ baseline_count }} + 1.0 / {{ test_count }})
        ) as pooled_standard_error,
        sqrt(
            {{ baseline_rate }} * (1 - {{ baseline_rate }}) / {{ baseline_count }}
            + {{ test_rate }} * (1 - {{ test_rate }}) / {{ test_count }}
        ) as unpooled_standard_error

    from {{ source_cte }}

),

tested as (

    select
        *,
        conversion_rate_difference / nullif(pooled_standard_error, 0) as z_score

    from standard_errors

),

p_valued as (

    select
        *,
        2 * (1 - {{ normal_cdf('abs(z_score)') }}) as p_value

    from tested

),
{% endmacro %}
