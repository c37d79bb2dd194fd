{#
    Monthly cap of hard-bounced addresses that may be re-enabled, from the number of contacts n:
        least(greatest(ceil(bounce_reenable_share * n), bounce_reenable_min), bounce_reenable_max)
    With the defaults (2 %, 10, 1,000): 100 contacts -> 10, 10,000 -> 200, 1,000,000 -> 1,000.
    The share is rendered as a decimal literal, so the product is exact decimal arithmetic (a
    float product a hair above an integer would round up one too many).
    dagster_project.lib.purge.bounce_reenable_cap is the same formula.
#}
{% macro bounce_reenable_cap(contact_count) -%}
    least(
        greatest(
            cast(ceil({{ var('bounce_reenable_share') }} * {{ contact_count }}) as integer),
            {{ var('bounce_reenable_min') }}
        ),
        {{ var('bounce_reenable_max') }}
    )
{%- endmacro %}

{#
    Deterministic batch id of a daily list: the first 16 hex digits of
    md5('<kind>|<as_of_date>|<purge_rule_version>'). Every build of the same day with the same
    rules gives the same id, which the Dagster sensors use as the run key.
#}
{% macro reveil_batch_id(kind) -%}
    substring({{ dbt.hash(dbt.concat([
        "'" ~ kind ~ "|'",
        dbt.safe_cast(reveil_as_of(), dbt.type_string()),
        "'|" ~ var('purge_rule_version') ~ "'",
    ])) }}, 1, 16)
{%- endmacro %}
