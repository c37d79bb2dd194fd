{#
    Macros of the audiences (models/intermediate/audiences, models/marts/audiences).
#}

{#
    Deterministic pseudo-random numbers in [0, 1), the same on every adapter and every run:
    reveil_hash_prefix(expression) is the first 8 hex digits of the md5 of a string expression
    (dbt.hash); reveil_hex_fraction(prefix) reads them as an integer divided by 16^8. Two steps
    (two CTEs) so the hash is computed once. dagster_project.lib.audiences.hash_fraction is the
    Python twin (tested):  int(md5('salt|c01')[:8], 16) / 4294967296.
#}
{% macro reveil_hash_prefix(expression) -%}
    substring({{ dbt.hash(expression) }}, 1, 8)
{%- endmacro %}

{% macro reveil_hex_fraction(hex_prefix) -%}
    (cast({{ reveil_hex_to_bigint(hex_prefix, 8) }} as double) / 4294967296.0)
{%- endmacro %}

{#
    A string of `digits` lower-case hex digits (e.g. a slice of an md5) as a bigint.
    default: portable SQL, each digit's position in '0123456789abcdef' times its power of 16
    (dbt.position; the expression is repeated once per digit: pass a short expression).
    spark: conv(hex, 16, 10).
#}
{% macro reveil_hex_to_bigint(hex_expression, digits) -%}
    {{ return(adapter.dispatch('reveil_hex_to_bigint', 'reveil')(hex_expression, digits)) }}
{%- endmacro %}

{% macro default__reveil_hex_to_bigint(hex_expression, digits) -%}
    cast((
        {%- for index in range(digits) %}
        {{ '+ ' if not loop.first }}({{ dbt.position(
            'substring(' ~ hex_expression ~ ', ' ~ (index + 1) ~ ', 1)', "'0123456789abcdef'"
        ) }} - 1) * {{ 16 ** (digits - 1 - index) }}
        {%- endfor %}
    ) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro spark__reveil_hex_to_bigint(hex_expression, digits) -%}
    cast(conv({{ hex_expression }}, 16, 10) as bigint)
{%- endmacro %}

{#
    The rows of an optional relation (a table written outside dbt that may not exist yet), or
    empty_select when it does not exist: `source_relation` is a source() or ref() taken at
    the top of the model (so dbt records the dependency at parse time). In a unit test the
    relation is the test's given rows (give it with `format: sql`: the table may not exist).
        {%- set suppressed = source('audiences', 'suppressed_contacts') %}
        ... ({{ reveil_optional_relation(suppressed, "select ... where 1 = 0") }}) ...
#}
{% macro reveil_optional_relation(source_relation, empty_select) -%}
    {%- if not execute -%}
        {{ return(empty_select) }}
    {%- endif -%}
    {%- if model.resource_type == 'unit_test' -%}
        {{ return('select * from ' ~ source_relation) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(
        database=source_relation.database,
        schema=source_relation.schema,
        identifier=source_relation.identifier,
    ) -%}
    {%- if existing is none -%}
        {{ return(empty_select) }}
    {%- endif -%}
    {{ return('select * from ' ~ existing) }}
{%- endmacro %}

{#
    Variant of a deterministic draw `fraction_expression` in [0, 1): the
    floor(fraction * n)-th of the n variants of var('audience_variants') (equal shares; one
    variant: always that one, no test).
#}
{% macro audience_variant(fraction_expression) -%}
    {%- set variants = var('audience_variants') -%}
    {%- if variants | length == 0 -%}
        {{ exceptions.raise_compiler_error("var audience_variants must list at least one variant") }}
    {%- endif -%}
    {%- if variants | length == 1 -%}
        {{ reveil_sql_string_list(variants) }}
    {%- else -%}
    case
        {%- for variant in variants %}
        {%- if not loop.last %}
        when {{ fraction_expression }} < {{ loop.index }}.0 / {{ variants | length }}
            then {{ reveil_sql_string_list([variant]) }}
        {%- endif %}
        {%- endfor %}
        else {{ reveil_sql_string_list([variants[-1]]) }}
    end
    {%- endif -%}
{%- endmacro %}
