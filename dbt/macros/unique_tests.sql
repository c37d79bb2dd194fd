{#
    Uniqueness tests that scale: group a 64-bit hash of the key, not the key itself.

    Grouping hundreds of millions of distinct key strings ran DuckDB out of memory at its
    4 GB limit instead of spilling (535 M event ids, benchmarks/results/10m.md); grouping
    their fixed-width hash spills and completes. Only the keys behind a repeated hash are
    then grouped exactly, so a hash collision is never reported as a duplicate. The landing
    gates check their keys with the same query (dagster_project/lib/gates.py:
    unique_key_query).

    reveil_repeated_keys: the values of key_columns found on more than one row of `model`,
    with n_records; skip_null_keys leaves out the rows with a null key column; key_alias
    renames a one-column key.

    default__test_unique overrides dbt's built-in `unique` test (dbt looks in the root project
    first); it returns the same columns (unique_field, n_records).
#}
{% macro reveil_repeated_keys(model, key_columns, skip_null_keys=false, key_alias=none) %}

    {%- set key = key_columns | join(', ') %}
    {%- set not_null = key_columns | join(' is not null and ') ~ ' is not null' %}

    with repeated_hashes as (

        select hash({{ key }}) as key_hash
        from {{ model }}
        {% if skip_null_keys -%} where {{ not_null }} {%- endif %}
        group by key_hash
        having count(*) > 1

    )

    select
        {{ key }}{% if key_alias %} as {{ key_alias }}{% endif %},
        count(*) as n_records

    from {{ model }}

    where
        {% if skip_null_keys -%} {{ not_null }} and {% endif -%}
        hash({{ key }}) in (select key_hash from repeated_hashes)

    group by {{ key }}

    having count(*) > 1

{% endmacro %}


{% macro default__test_unique(model, column_name) %}
{{ reveil_repeated_keys(model, [column_name], skip_null_keys=true, key_alias='unique_field') }}
{% endmacro %}
