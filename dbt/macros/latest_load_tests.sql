{#
    Tests of the raw-fed staging models that scale with the day, not the history.

    A daily build checks the rows of the latest load (the newest loaded_at: everything one
    ingestion run wrote), not the 50 M events of the past again. Rows loaded earlier were
    checked by the build after their own load, and the loader only ever upserts by key
    (dagster_project/lib/ingest.py: publish), so an old row cannot go bad by itself; parents
    are only deleted by the purge, which deletes their children with them.

    In a test's config, `where` may use the token __latest_load__, replaced by
    "loaded_at = (select max(loaded_at) from <model>)": e.g.
        config: {where: "__latest_load__ and not is_pseudonymised"}
    Overrides dbt's default__get_where_subquery (dbt looks in the root project first); any
    other `where` behaves as in dbt.
#}
{% macro default__get_where_subquery(relation) -%}
    {% set where = config.get('where', '') %}
    {% if where %}
        {% set where = where | replace(
            '__latest_load__',
            'loaded_at = (select max(loaded_at) from ' ~ relation ~ ')'
        ) %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}


{#
    Generic test: the keys of the latest load are unique in the whole model (a new row does
    not repeat any key, old or new). On a daily load this probes the history with the day's
    keys instead of grouping the whole table as dbt's `unique` does.
#}
{% test unique_in_latest_load(model, column_name) %}

    with

    latest_keys as (

        select {{ column_name }} as key_value

        from {{ model }}

        where loaded_at = (select max(loaded_at) from {{ model }})

    )

    select
        {{ column_name }},
        count(*) as duplicate_rows

    from {{ model }}

    where {{ column_name }} in (select key_value from latest_keys)

    group by {{ column_name }}

    having count(*) > 1

{% endtest %}
