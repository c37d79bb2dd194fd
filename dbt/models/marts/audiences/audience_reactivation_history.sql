{#
    The memory of the audiences: one row per contact per audience date, treated or held out,
    appended by every run (incremental; unique key audience_date, contact_id). A run writes
    the audience of its snapshot date only and replaces that date's rows, so a re-run of the
    same day replaces that day's audience (also dropping contacts no longer in it) and leaves
    the other days alone:
      DuckDB (default)  delete+insert, after a pre-hook that deletes the rows of the date;
      Spark             Parquet tables (no DELETE, no MERGE): partitioned by audience_date,
                        insert_overwrite replaces the date's partition.
    full_refresh is disabled: `dbt build --full-refresh` keeps the history (drop the table by
    hand to restart it). Contact details are never copied here; the purge deletes the rows of
    purged contacts with the rest.
#}
{%- set on_spark = target.type == 'spark' -%}
{{ config(
    materialized='incremental',
    unique_key=none if on_spark else ['audience_date', 'contact_id'],
    incremental_strategy='insert_overwrite' if on_spark else 'delete+insert',
    partition_by=['audience_date'] if on_spark else none,
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook=[] if on_spark else [
        "{% if is_incremental() %}delete from {{ this }} "
        ~ "where audience_date = {{ reveil_as_of() }}{% endif %}"
    ],
) }}
with

audience as (

    select * from {{ ref('audience_reactivation_today') }}

),

final as (

    select
        audience_date,
        contact_id,
        rfm_segment,
        inactivity_status,
        channel,
        channel_cost,
        offer_tier,
        sequence_step,
        variant,
        is_holdout,
        holdout_salt,
        reactivation_probability,
        value_at_stake,
        expected_value,
        expected_value_method,
        expected_value_rank

    from audience

)

select * from final
