{#
    on-run-start hook (dbt_project.yml): make the dbt sources readable by the run.
    DuckDB: nothing to do, the ingestion assets (raw) and a few Python assets (optional
    sources: CLV predictions, suppressed contacts) write them into the warehouse file.
    Spark: dagster_project/lib/spark_raw.py exports them from DuckDB to Parquet folders
    <location>/<schema>/<table> (location: REVEIL_SPARK_SOURCE_LOCATION, default
    REVEIL_SPARK_WAREHOUSE). Each one is declared as an external table <schema>.<table> over its
    folder, dropped and declared again at every run so a new export or a new column is seen
    (dropping an external table leaves its files alone):
      - every table of source 'raw', always (the export always writes them);
      - the other source tables only when listed in REVEIL_SPARK_OPTIONAL_SOURCES
        ('schema.table,...', set from the export); the others are dropped, so
        reveil_optional_relation sees them missing, exactly as on a DuckDB run.
#}
{% macro reveil_register_raw_sources() -%}
    {{ return(adapter.dispatch('reveil_register_raw_sources', 'reveil')()) }}
{%- endmacro %}

{% macro default__reveil_register_raw_sources() -%}
{%- endmacro %}

{% macro spark__reveil_register_raw_sources() -%}
    {%- if execute -%}
        {%- set location = env_var(
            'REVEIL_SPARK_SOURCE_LOCATION', env_var('REVEIL_SPARK_WAREHOUSE', '')
        ) | replace("'", "\\'") -%}
        {%- set optional = env_var('REVEIL_SPARK_OPTIONAL_SOURCES', '').split(',')
            | map('trim') | reject('equalto', '') | list -%}
        {%- set tables = graph.sources.values() | list -%}
        {%- for schema in tables | map(attribute='schema') | unique -%}
            {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for table in tables -%}
            {%- set name = table.schema ~ '.' ~ table.identifier -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- if table.source_name == 'raw' or name in optional -%}
                {%- do run_query(
                    'create table ' ~ name ~ " using parquet location '" ~ location ~ '/'
                    ~ table.schema ~ '/' ~ table.identifier ~ "'"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
