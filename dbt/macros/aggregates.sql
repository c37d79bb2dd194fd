{# Number of rows where condition holds, as a bigint (DuckDB's sum would give a hugeint). #}
{% macro reveil_count_if(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as bigint)
{%- endmacro %}


{#
    Type of a per-contact sum of order amounts (lifetime revenue, revenue at stake, attributed
    revenue). DuckDB's sum of a DECIMAL(14,2) amount is a DECIMAL(38,2), 128-bit: stored as is,
    it doubles the cost of every sort and join on it downstream (int_customer_rfm_scored's
    ntile). 18 digits hold 10^16 EUR, far beyond any contact's revenue.
#}
{% macro reveil_money_type() -%}
    decimal(18, 2)
{%- endmacro %}
