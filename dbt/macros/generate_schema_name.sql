{#
    Models land in the schema configured for their folder, exactly: staging, intermediate,
    marts, seeds. dbt's default would prefix the target schema (main_staging); Dagster keys and
    BI tools would then disagree with the configured names.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
