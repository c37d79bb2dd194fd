{#
    Uniqueness tests that scale: group a 64-bit hash of the key, not the key itself.

    Grouping hundreds of millions of distinct key strings ran DuckDB out of memory at its
    4 GB limit instead of spilling (535 M event ids, benchmarks/results/10m.md); grouping
    their fixed-width hash spills and completes. Only the keys behind a repeated hash are
    then grouped exactly, so a hash collision is never reported as a duplicate.

    default__test_unique overrides dbt's built-in `unique` test (dbt looks in the root project
    first); it returns the same columns (unique_field, n_records).
#}
{% macro default__test_unique(model, column_name) %}

    with repeated_hashes as (

        select hash({{ column_name }}) as key_hash
        from {{ model }}
        where {{ column_name }} is not null
        group by key_hash
        having count(*) > 1

    )

    select
        {{ column_name }} as unique_field,
        count(*) as n_records

    from {{ model }}

    where
        {{ column_name }} is not null
        and hash({{ column_name }}) in (select key_hash from repeated_hashes)

    group by {{ column_name }}

    having count(*) > 1

{% endmacro %}
