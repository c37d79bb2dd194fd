{#
    Generic test: no two rows share the same values of combination_of_columns (the composite
    key of a model). A small stand-in for dbt_utils' test of the same name, since the package
    hub cannot be reached from here.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as duplicate_rows

    from {{ model }}

    group by {{ combination_of_columns | join(', ') }}

    having count(*) > 1

{% endtest %}
