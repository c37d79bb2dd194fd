{#
    Latest of several nullable values, ignoring nulls (null only when all are null).
    DuckDB's and Spark's greatest() already skip nulls; adapters whose greatest() returns null
    as soon as one argument is null (Snowflake, BigQuery) get their own implementation here.
#}
{% macro reveil_greatest(expressions) -%}
    {{ return(adapter.dispatch('reveil_greatest', 'reveil')(expressions)) }}
{%- endmacro %}

{% macro default__reveil_greatest(expressions) -%}
    greatest({{ expressions | join(', ') }})
{%- endmacro %}
