{#
    Tests of the raw-fed staging models that scale with the day, not the history.

    A daily build checks the rows of the latest load (the newest loaded_at: everything one
    ingestion run wrote), not the 50 M events of the past again. Every row passed the GX
    landing gate of its own delivery before it was published, and was normally tested by the
    build after its load (not if that build failed before its tests: run with the var
    test_all_loads: true to re-check every row). The loader only ever upserts by key
    (dagster_project/lib/ingest.py: publish), so an old row cannot go bad by itself and a
    key of the latest load cannot repeat an older one (`unique` on the latest load is
    enough); parents are only deleted by the purge, which deletes their children too.

    In a test's config, `where` may use the token __latest_load__, replaced by
    "loaded_at = (select max(loaded_at) from <model>)": e.g.
        config: {where: "__latest_load__ and not is_pseudonymised"}
    Overrides dbt's default__get_where_subquery (dbt looks in the root project first); any
    other `where` behaves as in dbt.
#}
{% macro default__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = where | replace('__latest_load__', reveil_latest_load_condition(relation)) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}


{# The rows of the latest load of `relation` (every row with var test_all_loads). #}
{% macro reveil_latest_load_condition(relation) -%}
    {%- if var('test_all_loads', false) -%}
        1 = 1
    {%- else -%}
        loaded_at = (select max(loaded_at) from {{ relation }})
    {%- endif -%}
{%- endmacro %}
