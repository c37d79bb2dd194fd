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

{# Spark's datediff is an int, DuckDB's date_diff a bigint: bigint on both. #}
{% macro spark__reveil_days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}

{#
    A timestamp moved by whole days, still a timestamp without time zone (same wall clock).
    dbt.dateadd on Spark goes through unix seconds in the session time zone and returns a
    timestamp WITH local time zone; timestampadd keeps the input's type and clock.
#}
{% macro reveil_add_days_to_timestamp(timestamp_expression, days) -%}
    {{ return(adapter.dispatch('reveil_add_days_to_timestamp', 'reveil')(
        timestamp_expression, days
    )) }}
{%- endmacro %}

{% macro default__reveil_add_days_to_timestamp(timestamp_expression, days) -%}
    {{ dbt.dateadd('day', days, timestamp_expression) }}
{%- endmacro %}

{% macro spark__reveil_add_days_to_timestamp(timestamp_expression, days) -%}
    timestampadd(day, {{ days }}, {{ timestamp_expression }})
{%- endmacro %}
