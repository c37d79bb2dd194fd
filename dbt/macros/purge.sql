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
    md5('<kind>|<as_of_date>|<purge_rule_version>'), or of
    md5('<kind>|<as_of_date>|<purge_rule_version>|<sequence>') when sequence > 0. Every build
    with the same inputs gives the same id, which the Dagster sensors use as the run key.
#}
{% macro reveil_batch_id(kind, sequence=0) -%}
    {%- set parts = [
        "'" ~ kind ~ "|'",
        dbt.safe_cast(reveil_as_of(), dbt.type_string()),
        "'|" ~ var('purge_rule_version') ~ "'",
    ] -%}
    {%- if sequence | int > 0 -%}
        {%- do parts.append("'|" ~ (sequence | int) ~ "'") -%}
    {%- endif -%}
    substring({{ dbt.hash(dbt.concat(parts)) }}, 1, 16)
{%- endmacro %}

{#
    How many purge batches of this as_of_date and rule version a real purge already executed
    (audit.purge_batches, written by dagster_project.lib.purge; 0 while it does not exist,
    when parsing and in unit tests). It is the sequence of the next purge batch id: the
    candidates left after a real purge (say, a company closed in a registry file delivered
    the same afternoon) are another batch, with their own list, never the executed one's.
    Read without source(): the audit is written downstream of this model (a dependency would
    be a cycle).
#}
{% macro reveil_purge_batches_executed() -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set audit = adapter.get_relation(
        database=this.database, schema='audit', identifier='purge_batches'
    ) -%}
    {%- if audit is none -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set executed = run_query(
        "select count(distinct batch_id) from " ~ audit
        ~ " where not dry_run and candidate_count > 0 and as_of_date = " ~ reveil_as_of()
        ~ " and rule_version = '" ~ var('purge_rule_version') ~ "'"
    ) -%}
    {{ return(executed.columns[0].values()[0] | int) }}
{%- endmacro %}
