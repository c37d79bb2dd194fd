{#
    The snapshot date every "days since" and every window is measured from, as a SQL date
    literal: var('as_of_date') (YYYY-MM-DD) or, when it is null, today's UTC date taken once at
    compile time so that all models of one run agree even across midnight.
    days_offset shifts it (the backtest snapshot is reveil_as_of(-var('backtest_lookback_days'))).
#}
{% macro reveil_as_of(days_offset=0) -%}
    {%- set configured = var('as_of_date', none) -%}
    {%- if configured is none or configured == '' -%}
        {%- set as_of = modules.datetime.datetime.now(modules.pytz.utc).date() -%}
    {%- else -%}
        {%- set as_of = modules.datetime.date.fromisoformat(configured | string) -%}
    {%- endif -%}
    {%- set shifted = as_of + modules.datetime.timedelta(days=days_offset | int) -%}
    cast('{{ shifted.isoformat() }}' as date)
{%- endmacro %}
