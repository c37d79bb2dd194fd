{#
    Incremental per-contact snapshot aggregates (int_contact_orders_aggregated,
    int_contact_engagement_aggregated): one row per snapshot date and contact, aggregating the
    contact's source rows dated up to that date.

    A daily run must not re-read the whole history. Every stored row is exact for the source
    as loaded up to the build's watermark (source_loaded_through = max(loaded_at) of the source
    at build time). For each snapshot date D to build, its base B is the latest stored snapshot
    date <= D (B = D when D is rebuilt). A contact's row at D equals its row at B unless the
    contact has a source row
      - dated in (B, D] (new activity since the base), or
      - dated <= D and loaded after the watermark (late-arriving or re-delivered rows),
    so only those "affected" (date, contact) pairs are recomputed, from the contact's whole
    history; other contacts are carried over from B (only for a new date: rows of a date
    already stored stay where they are). A date with no base is built in full, which is what a
    first build or a --full-refresh does for every date (each model computes those dates
    with running totals over date buckets rather than copying every row into every later
    date); tests/dbt/test_incremental_snapshots.py checks that both give the same tables.

    A re-delivered row that moves to another contact or day must also mark the contact and
    day it left: the changes of int_contact_orders_aggregated include the old contact and date
    the loader keeps for a moved order (stg_raw__orders_superseded); events are never
    re-delivered (the loader keeps an event id's first version). Limit (a --full-refresh fixes
    it): rows deleted from the source outside the purge (which erases this table's rows
    itself) are not noticed.

    On Spark the models are plain tables (no delete+insert on Parquet tables): every build is
    a full one.
#}

{#
    The config of such a model: incremental delete+insert on DuckDB, a table on Spark.
    dates_condition: which rows of int_snapshot_dates_enumerated the model holds; the
    post-hook deletes the dates no longer among them (yesterday's current date...).
    empty_row_condition: rows left empty by a recomputation, deleted by a post-hook.

    DuckDB: joins with up to 64 estimated rows on one side run as nested loops while such a
    model builds (nested_loop_join_threshold, 5 by default; SET SESSION: this model's
    connection only). Every join of these models without an equality has a dates CTE on one
    side (at most one row per snapshot date), which DuckDB estimates at 5 to 30 rows: it
    sorted the other side for a merge join on the date, every event for the buckets of
    int_contact_engagement_aggregated; a nested loop streams it (that model built alone on
    1 M contacts / 53 M events: 21 s -> 16 s, 37 -> 27 s of CPU; no gain at 10 M, where
    spilling aggregates dominate). Should the build fail before its post-hooks, the setting
    stays on that dbt thread's connection until dbt exits.
#}
{% macro reveil_snapshot_increment_config(dates_condition='true', empty_row_condition=none) %}
    {% set pre_hooks = [] %}
    {% set hooks = [] %}
    {% if target.type != 'spark' %}
        {% do pre_hooks.append('set session nested_loop_join_threshold = 64') %}
        {# rendered when the hook runs: a ref() here would resolve at parse time #}
        {% do hooks.append(
            "delete from {{ this }} where as_of_date not in (select as_of_date from "
            ~ "{{ ref('int_snapshot_dates_enumerated') }} where " ~ dates_condition ~ ")"
        ) %}
        {% if empty_row_condition %}
            {% do hooks.append('delete from {{ this }} where ' ~ empty_row_condition) %}
        {% endif %}
        {% do hooks.append('reset session nested_loop_join_threshold') %}
    {% endif %}
    {{ config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        unique_key=['as_of_date', 'contact_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=pre_hooks,
        post_hook=hooks,
    ) }}
{% endmacro %}


{#
    CTEs previous_build, build_dates, affected and full_dates (see above); a trailing comma is
    left so the model's own CTEs follow.
      changes_cte   every source row, with contact_id, the date column and loaded_at (rows
                    the aggregate filters out included: a completed order re-delivered as
                    cancelled must mark its contact), and the old contact and date of rows
                    moved by a re-delivery;
      date_column   the row's date (compared with the snapshot date, inclusive);
      dates_cte     the snapshot dates to build (column as_of_date).
#}
{% macro reveil_snapshot_increment_ctes(changes_cte, date_column, dates_cte) %}

{% if is_incremental() %}
previous_build as {{ reveil_not_materialized() }} (

    select as_of_date, contact_id, source_loaded_through from {{ this }}

),

previous_watermark as (

    select
        count(*) > 0 as has_previous_build,
        max(source_loaded_through) as loaded_through

    from previous_build

),

stored_dates as (

    select distinct as_of_date from previous_build

),
{% else %}
previous_watermark as (

    select
        false as has_previous_build,
        cast(null as timestamp) as loaded_through

),

stored_dates as (

    select as_of_date from {{ dates_cte }} where 1 = 0

),
{% endif %}

build_dates as (

    select
        dates.as_of_date,
        max(stored_dates.as_of_date) as base_date

    from {{ dates_cte }} as dates

    left join stored_dates
        on stored_dates.as_of_date <= dates.as_of_date

    group by dates.as_of_date

),

earliest_base as (

    select min(base_date) as base_date from build_dates

),

changed_rows as (

    select
        changes.contact_id,
        changes.{{ date_column }} as row_date,
        coalesce(changes.loaded_at > previous_watermark.loaded_through, true) as is_late

    from {{ changes_cte }} as changes

    cross join previous_watermark

    cross join earliest_base

    where
        previous_watermark.has_previous_build
        and (
            coalesce(changes.loaded_at > previous_watermark.loaded_through, true)
            or changes.{{ date_column }} > earliest_base.base_date
        )

),

affected as (

    select distinct
        build_dates.as_of_date,
        changed_rows.contact_id

    from changed_rows

    inner join build_dates
        on
            changed_rows.row_date <= build_dates.as_of_date
            and build_dates.base_date is not null
            and (changed_rows.is_late or changed_rows.row_date > build_dates.base_date)

),

{# the dates built in full, each with the previous one (its bucket starts after it) #}
full_dates as (

    select
        as_of_date,
        lag(as_of_date) over (order by as_of_date) as previous_as_of_date

    from build_dates

    where base_date is null

),

{% endmacro %}


{#
    Full dates: the bucket of each day of `source_cte` (columns row_date, bucket_date): a row
    belongs to the first full date on or after its day. Models join their rows to it on the
    day (an equality): the range join here sees distinct days, not every order. Not used for
    the events of int_contact_engagement_aggregated: there the equality ran the 10 M first
    build out of memory at 4 GB, and the range join to the (at most two) dates is a nested
    loop that streams the events (see reveil_snapshot_increment_config).
#}
{% macro reveil_snapshot_day_buckets(source_cte, date_column) %}
    select
        source_days.row_date,
        full_dates.as_of_date as bucket_date

    from (
        select distinct {{ date_column }} as row_date from {{ source_cte }}
    ) as source_days

    inner join full_dates
        on
            source_days.row_date <= full_dates.as_of_date
            and (
                full_dates.previous_as_of_date is null
                or source_days.row_date > full_dates.previous_as_of_date
            )
{% endmacro %}


{#
    Full dates: the running rows of `running_cte` (one per contact and bucket_date, with
    next_bucket_date, the contact's next bucket) spread over the full dates they stand for.
#}
{% macro reveil_snapshot_spread(running_cte, columns) %}
    select
        full_dates.as_of_date,
        {{ running_cte }}.contact_id,
        {% for column in columns %}{{ running_cte }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %}

    from {{ running_cte }}

    inner join full_dates
        on
            {{ running_cte }}.bucket_date <= full_dates.as_of_date
            and (
                {{ running_cte }}.next_bucket_date is null
                or {{ running_cte }}.next_bucket_date > full_dates.as_of_date
            )
{% endmacro %}


{#
    The rows of source_cte a build aggregates, with the snapshot date they count for: every
    row up to a date built in full, and the whole history up to the date of each affected
    (date, contact) pair. full_dates=false leaves out the dates built in full, for a model
    that computes them another way (int_contact_orders_aggregated: running totals).
#}
{% macro reveil_snapshot_increment_rows(source_cte, date_column, columns, full_dates=true) %}
    {% if full_dates %}
    select
        build_dates.as_of_date,
        {% for column in columns %}{{ source_cte }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %}

    from {{ source_cte }}

    inner join build_dates
        on {{ source_cte }}.{{ date_column }} <= build_dates.as_of_date

    where build_dates.base_date is null

    union all

    {% endif %}
    select
        affected.as_of_date,
        {% for column in columns %}{{ source_cte }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %}

    from {{ source_cte }}

    inner join affected
        on
            {{ source_cte }}.contact_id = affected.contact_id
            and {{ source_cte }}.{{ date_column }} <= affected.as_of_date
{% endmacro %}


{#
    Rows of a new snapshot date carried over from its base for the contacts not affected
    (incremental builds only): `columns` are the model's aggregate columns (as_of_date,
    contact_id and source_loaded_through excluded).
#}
{% macro reveil_snapshot_increment_carried(columns) %}
    select
        build_dates.as_of_date,
        previous.contact_id,
        {% for column in columns %}previous.{{ column }}{{ ', ' if not loop.last }}{% endfor %}

    from {{ this }} as previous

    inner join build_dates
        on
            previous.as_of_date = build_dates.base_date
            and build_dates.base_date < build_dates.as_of_date

    where not exists (
        select 1
        from affected
        where
            affected.as_of_date = build_dates.as_of_date
            and affected.contact_id = previous.contact_id
    )
{% endmacro %}
