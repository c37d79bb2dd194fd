{# Number of rows where condition holds, as a bigint (DuckDB's sum would give a hugeint). #}
{% macro reveil_count_if(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as bigint)
{%- endmacro %}
