{#
    Tests that scale with the day, not the history.

    A daily build checks the rows of the latest load (the newest loaded_at: everything one
    ingestion run wrote), not the 50 M events of the past again. Every row passed the GX
    landing gate of its own delivery before it was published, and was normally tested by the
    build after its load (not if that build failed before its tests: run with the var
    test_all_loads: true to re-check every row). The loader only ever upserts by key
    (dagster_project/lib/ingest.py: publish), so an old row cannot go bad by itself and a
    key of the latest load cannot repeat an older one (`unique` on the latest load is
    enough); parents are only deleted by the purge, which deletes their children too.

    The incremental intermediates are tested the same way on the rows the latest build wrote:
    each row carries the watermark of the build that wrote it (the newest loaded_at of its
    source then), and delete+insert first removes the stored rows of every key it writes, so
    a written key cannot repeat a kept one. A daily build writes a few dates or customers, not
    the 14 M snapshot rows of int_contact_orders_aggregated (~3 s of key test a day at 1 M
    contacts).

    In a test's config, `where` may use
      __newest(column)__  replaced by "column = (select max(column) from <model>)";
      __latest_load__     short for __newest(loaded_at)__;
    e.g. config: {where: "__latest_load__ and not is_pseudonymised"}. With the var
    test_all_loads: true both stand for every row. Overrides dbt's default__get_where_subquery
    (dbt looks in the root project first); any other `where` behaves as in dbt.
#}
{% macro default__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = reveil_expand_newest_tokens(
            where | replace('__latest_load__', '__newest(loaded_at)__'), relation
        ) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}


{# `where` with each __newest(column)__ replaced by its condition on `relation`. #}
{% macro reveil_expand_newest_tokens(where, relation) -%}
    {%- set pieces = where.split('__newest(') -%}
    {%- set expanded = [pieces[0]] -%}
    {%- for piece in pieces[1:] -%}
        {%- set column_and_rest = piece.split(')__', 1) -%}
        {%- if column_and_rest | length != 2 -%}
            {{ exceptions.raise_compiler_error(
                "where: __newest( without its closing )__ in: " ~ where
            ) }}
        {%- endif -%}
        {%- do expanded.append(reveil_newest_condition(relation, column_and_rest[0] | trim)) -%}
        {%- do expanded.append(column_and_rest[1]) -%}
    {%- endfor -%}
    {{ return(expanded | join('')) }}
{%- endmacro %}


{# The rows of `relation` whose `column` is the newest (every row with var test_all_loads). #}
{% macro reveil_newest_condition(relation, column) -%}
    {%- if var('test_all_loads', false) -%}
        1 = 1
    {%- else -%}
        {{ column }} = (select max({{ column }}) from {{ relation }})
    {%- endif -%}
{%- endmacro %}
