{#
    Generic test: no two rows share the same values of combination_of_columns (the composite
    key of a model). A small stand-in for dbt_utils' test of the same name, since the package
    hub cannot be reached from here. Groups a hash of the key first, like `unique`
    (macros/unique_tests.sql), so it scales to hundreds of millions of rows.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {%- set key = combination_of_columns | join(', ') %}

    with repeated_hashes as (

        select hash({{ key }}) as key_hash
        from {{ model }}
        group by key_hash
        having count(*) > 1

    )

    select
        {{ key }},
        count(*) as duplicate_rows

    from {{ model }}

    where hash({{ key }}) in (select key_hash from repeated_hashes)

    group by {{ key }}

    having count(*) > 1

{% endtest %}
