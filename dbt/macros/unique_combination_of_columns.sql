{#
    Generic test: no two rows share the same values of combination_of_columns (the composite
    key of a model). A small stand-in for dbt_utils' test of the same name, since the package
    hub cannot be reached from here. Groups a hash of the key first, like `unique`
    (macros/unique_tests.sql: reveil_repeated_keys), so it scales to hundreds of millions of
    rows.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{{ reveil_repeated_keys(model, combination_of_columns) }}
{% endtest %}
