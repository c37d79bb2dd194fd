{#
    Date arithmetic that returns dates on every adapter. dbt.dateadd returns a timestamp on
    DuckDB (date + interval) and a date on Spark; Spark has native day functions.
#}
{% macro reveil_add_days(date_expression, days) -%}
    {{ return(adapter.dispatch('reveil_add_days', 'reveil')(date_expression, days)) }}
{%- endmacro %}

{% macro default__reveil_add_days(date_expression, days) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}

{% macro spark__reveil_add_days(date_expression, days) -%}
    date_add({{ date_expression }}, {{ days }})
{%- endmacro %}

{# Whole days from start_date to end_date (positive when end_date is later). #}
{% macro reveil_days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('reveil_days_between', 'reveil')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__reveil_days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}

{% macro spark__reveil_days_between(start_date, end_date) -%}
    datediff({{ end_date }}, {{ start_date }})
{%- endmacro %}
