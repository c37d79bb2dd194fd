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

{#
    Newcombe's hybrid score interval of a difference of proportions p_1 - p_2 (Newcombe 1998,
    "Interval estimation for the difference between independent proportions", method 10),
    from the Wilson bounds l_i, u_i of each proportion (macro wilson_bound):
        lower = (p_1 - p_2) - sqrt((p_1 - l_1)^2 + (u_2 - p_2)^2)
        upper = (p_1 - p_2) + sqrt((u_1 - p_1)^2 + (p_2 - l_2)^2)
    bound = 'lower' or 'upper'. Always within [-1, 1] (lower >= l_1 - u_2, upper <= u_1 - l_2)
    and around the difference, and never a single point: 0 / n vs 0 / n gives -/+ the Wilson
    upper bound of 0 / n. The Wald interval
        d -/+ z sqrt(p_1 (1 - p_1) / n_1 + p_2 (1 - p_2) / n_2)
    leaves [-1, 1] with small samples (9 / 10 vs 1 / 10: upper 1.063) and collapses to a point
    when both rates are 0 or both 1; Newcombe's is close to it on large samples. Clamped to
    [-1, 1] as wilson_bound: in floating point the Wilson upper bound of 57 / 57 is 1 - 2e-16,
    and 0 / 1 vs 57 / 57 gives a lower bound of -1 - 2e-16. Null when either trials is 0.
#}
{% macro newcombe_difference_bound(successes_1, trials_1, successes_2, trials_2, bound) -%}
    {%- set n_1 = "cast(nullif(" ~ trials_1 ~ ", 0) as double)" -%}
    {%- set n_2 = "cast(nullif(" ~ trials_2 ~ ", 0) as double)" -%}
    {%- set p_1 = "(" ~ successes_1 ~ " / " ~ n_1 ~ ")" -%}
    {%- set p_2 = "(" ~ successes_2 ~ " / " ~ n_2 ~ ")" -%}
    {%- set other = 'upper' if bound == 'lower' else 'lower' -%}
    case when {{ n_1 }} is not null and {{ n_2 }} is not null then least(1.0, greatest(-1.0, (
        {{ p_1 }} - {{ p_2 }}
        {{ '-' if bound == 'lower' else '+' }} sqrt(
            power({{ p_1 }} - {{ wilson_bound(successes_1, trials_1, bound) }}, 2)
            + power({{ wilson_bound(successes_2, trials_2, other) }} - {{ p_2 }}, 2)
        )
    ))) end
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
    test group: conversion_rate_difference (test - baseline), pooled_standard_error, z_score
    and the two-sided p_value. Used by rpt_reactivation_ab_tests and rpt_audience_lift, whose
    confidence interval of the difference is Newcombe's (macro newcombe_difference_bound).
#}
{% macro two_proportion_test_ctes(source_cte, baseline_rate, baseline_count, test_rate, test_count) %}
standard_errors as (

    select
        *,
        {{ test_rate }} - {{ baseline_rate }} as conversion_rate_difference,
        sqrt(
            pooled_conversion_rate * (1 - pooled_conversion_rate)
            * (1.0 / {{ baseline_count }} + 1.0 / {{ test_count }})
        ) as pooled_standard_error

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
