{#
    One row per contact and snapshot (current and backtest): last signals, days since each,
    business cycle and window, inactivity status and reason, value at stake.
    Activity = a completed order or a click (a deliberate action). Opens are a weaker signal,
    inflated by privacy proxies: human opens make a contact email-active and feed the reason
    lost_interest, but do not keep a customer active. Status rules: macro inactivity_status.
    A contact with no activity yet is measured from the day it was created.

    DuckDB: the joins run in the order written (the optimizer's build-side choice is off for
    this model only). It estimates the contacts x snapshot dates range join at a few thousand
    rows (17 M on 10 M contacts), so it built its outer-join hash tables on that side and ran
    out of memory at 4 GB; as written, the hash tables hold the aggregates and spill (39 s).
    The setting is global to the DuckDB process while this model builds: another model built
    at the same time keeps its results, only its join sides may differ.
#}
{{ config(
    pre_hook=[] if target.type != 'duckdb' else [
        "set global disabled_optimizers = 'build_side_probe_side'"
    ],
    post_hook=[] if target.type != 'duckdb' else ["reset global disabled_optimizers"],
) }}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

company_registry as (

    select * from {{ ref('stg_raw__company_registry') }}

),

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

),

snapshot_dates as (

    select * from {{ ref('int_snapshot_dates_enumerated') }}

    where is_current_snapshot or is_backtest_snapshot

),

orders_aggregated as {{ reveil_not_materialized() }} (

    select * from {{ ref('int_contact_orders_aggregated') }}

    {# it also holds every reactivation-send eve: 143 M rows on 10 M contacts, 20 M kept #}
    where as_of_date in (select snapshot_dates.as_of_date from snapshot_dates)

),

engagement as {{ reveil_not_materialized() }} (

    select * from {{ ref('int_contact_engagement_aggregated') }}

),

contacts_by_snapshot as {{ reveil_not_materialized() }} (

    select
        snapshot_dates.as_of_date,
        contacts.contact_id,
        contacts.business_type,
        contacts.industry,
        contacts.acquisition_source,
        contacts.siret,
        contacts.created_date,
        {{ business_cycle('contacts.business_type', 'contacts.industry') }} as business_cycle

    from contacts

    inner join snapshot_dates
        on contacts.created_date <= snapshot_dates.as_of_date

),

joined as (

    select
        contacts_by_snapshot.*,
        {{ inactivity_window_days('contacts_by_snapshot.business_cycle') }}
            as inactivity_window_days,
        orders_aggregated.first_order_at,
        orders_aggregated.last_order_at as last_purchase_at,
        coalesce(orders_aggregated.completed_order_count, 0) as completed_order_count,
        coalesce(orders_aggregated.lifetime_revenue, 0) as lifetime_revenue,
        engagement.last_click_at,
        engagement.last_human_open_at,
        engagement.last_machine_open_at,
        engagement.last_unsubscribe_at,
        engagement.last_complaint_at,
        engagement.last_hard_bounce_at,
        engagement.last_delivered_at,
        coalesce(engagement.delivered_message_count, 0) as delivered_message_count,
        coalesce(engagement.delivered_since_last_human_open_count, 0)
            as delivered_since_last_human_open_count,
        -- registry events count only once they happened by the snapshot date (an undated
        -- event counts at every snapshot)
        coalesce(
            company_registry.is_closed
            and coalesce(company_registry.closed_date, contacts_by_snapshot.as_of_date)
            <= contacts_by_snapshot.as_of_date,
            false
        ) as is_company_closed,
        coalesce(
            company_registry.is_acquired
            and coalesce(company_registry.acquired_date, contacts_by_snapshot.as_of_date)
            <= contacts_by_snapshot.as_of_date,
            false
        ) as is_company_acquired,
        coalesce(
            company_registry.is_moved
            and coalesce(company_registry.moved_date, contacts_by_snapshot.as_of_date)
            <= contacts_by_snapshot.as_of_date,
            false
        ) as is_company_moved

    from contacts_by_snapshot

    left join orders_aggregated
        on
            contacts_by_snapshot.as_of_date = orders_aggregated.as_of_date
            and contacts_by_snapshot.contact_id = orders_aggregated.contact_id

    left join engagement
        on
            contacts_by_snapshot.as_of_date = engagement.as_of_date
            and contacts_by_snapshot.contact_id = engagement.contact_id

    left join company_registry
        on contacts_by_snapshot.siret = company_registry.siret

),

dated as (

    select
        *,
        cast(last_purchase_at as date) as last_purchase_date,
        cast(last_click_at as date) as last_click_date,
        cast(last_human_open_at as date) as last_human_open_date,
        cast(last_unsubscribe_at as date) as last_unsubscribe_date,
        cast(last_complaint_at as date) as last_complaint_date,
        {{ last_activity_at('last_purchase_at', 'last_click_at') }} as last_activity_at,
        cast(
            {{ reveil_greatest(['last_human_open_at', 'last_click_at', 'last_unsubscribe_at']) }}
            as date
        ) as last_email_engagement_date

    from joined

),

measured as (

    select
        *,
        cast(last_activity_at as date) as last_activity_date,
        coalesce(cast(last_activity_at as date), created_date) as activity_reference_date,
        {{ reveil_days_between(
            'coalesce(cast(last_activity_at as date), created_date)', 'as_of_date'
        ) }} as days_since_last_activity,
        {{ reveil_days_between('created_date', 'as_of_date') }} as tenure_days,
        {{ reveil_days_between('last_purchase_date', 'as_of_date') }} as days_since_last_purchase,
        {{ reveil_days_between('last_click_date', 'as_of_date') }} as days_since_last_click,
        {{ reveil_days_between('last_human_open_date', 'as_of_date') }}
            as days_since_last_human_open,
        {{ reveil_days_between('last_unsubscribe_date', 'as_of_date') }}
            as days_since_last_unsubscribe,
        {{ reveil_days_between('last_complaint_date', 'as_of_date') }}
            as days_since_last_complaint,
        {{ reveil_days_between('coalesce(last_purchase_date, created_date)', 'as_of_date') }}
        >= inactivity_window_days as is_purchase_inactive,
        {{ reveil_days_between(
            'coalesce(last_email_engagement_date, created_date)', 'as_of_date'
        ) }} >= inactivity_window_days as is_email_inactive

    from dated

),

classified as (

    select
        *,
        {{ inactivity_status('days_since_last_activity', 'inactivity_window_days') }}
            as inactivity_status

    from measured

),

reasoned as (

    select
        *,
        inactivity_status in ('inactive', 'lost') as is_inactive,
        case
            when inactivity_status in ('inactive', 'lost')
                then {{ reveil_add_days('activity_reference_date', 'inactivity_window_days') }}
        end as inactive_since_date,
        -- first matching rule wins; documented in _contacts__models.yml
        case
            when inactivity_status not in ('inactive', 'lost') then null
            when is_company_closed then 'company_closed'
            when is_company_acquired then 'company_acquired'
            when is_company_moved then 'company_moved'
            when
                last_hard_bounce_at is not null
                and (last_delivered_at is null or last_hard_bounce_at > last_delivered_at)
                then 'dead_address'
            when
                last_purchase_at is null
                and last_click_at is null
                and last_human_open_at is null
                and last_complaint_at is null
                then 'never_engaged'
            when
                last_complaint_at is not null
                or delivered_since_last_human_open_count
                >= {{ var('deliverability_unopened_sends') }}
                then 'deliverability'
            when
                last_human_open_at is not null
                and (last_activity_at is null or last_human_open_at > last_activity_at)
                then 'lost_interest'
            else 'unknown'
        end as inactivity_reason

    from classified

),

{#
    Last activity per (snapshot, contact) for the revenue at stake, read again from the
    imports rather than from `reasoned`: a second reference to that wide chain made DuckDB
    materialise it whole (20 M rows x 40 columns on 10 M contacts), which it could not spill
    (out of memory at 4 GB). Same value as reasoned.last_activity_date (macro
    last_activity_at in both places).
#}
activity_dates as (

    select
        contacts_by_snapshot.as_of_date,
        contacts_by_snapshot.contact_id,
        cast(
            {{ last_activity_at('orders_aggregated.last_order_at', 'engagement.last_click_at') }}
            as date
        ) as last_activity_date

    from contacts_by_snapshot

    left join orders_aggregated
        on
            contacts_by_snapshot.as_of_date = orders_aggregated.as_of_date
            and contacts_by_snapshot.contact_id = orders_aggregated.contact_id

    left join engagement
        on
            contacts_by_snapshot.as_of_date = engagement.as_of_date
            and contacts_by_snapshot.contact_id = engagement.contact_id

),

orders_at_stake as (

    select
        activity_dates.as_of_date,
        activity_dates.contact_id,
        count(*) as orders_at_stake_count,
        cast(sum(orders.amount) as {{ reveil_money_type() }}) as revenue_at_stake

    from activity_dates

    inner join orders
        on
            activity_dates.contact_id = orders.contact_id
            and activity_dates.last_activity_date >= orders.ordered_date
            and cast({{ dbt.dateadd(
                'month', -var('value_at_stake_months'), 'activity_dates.last_activity_date'
            ) }} as date) < orders.ordered_date

    where orders.is_completed

    group by
        activity_dates.as_of_date,
        activity_dates.contact_id

),

final as (

    select
        reasoned.as_of_date,
        reasoned.contact_id,
        reasoned.business_type,
        reasoned.industry,
        reasoned.acquisition_source,
        reasoned.created_date,
        reasoned.tenure_days,
        {{ tenure_band('reasoned.tenure_days') }} as tenure_band,
        {{ tenure_band_order('reasoned.tenure_days') }} as tenure_band_order,
        reasoned.business_cycle,
        reasoned.inactivity_window_days,
        reasoned.last_purchase_at,
        reasoned.last_click_at,
        reasoned.last_human_open_at,
        reasoned.last_machine_open_at,
        reasoned.last_unsubscribe_at,
        reasoned.last_complaint_at,
        reasoned.last_hard_bounce_at,
        reasoned.last_delivered_at,
        reasoned.days_since_last_purchase,
        reasoned.days_since_last_click,
        reasoned.days_since_last_human_open,
        reasoned.days_since_last_unsubscribe,
        reasoned.days_since_last_complaint,
        reasoned.last_activity_at,
        reasoned.last_activity_date,
        reasoned.days_since_last_activity,
        reasoned.inactivity_status,
        reasoned.is_inactive,
        reasoned.inactive_since_date,
        reasoned.is_purchase_inactive,
        reasoned.is_email_inactive,
        reasoned.inactivity_reason,
        reasoned.delivered_message_count,
        reasoned.delivered_since_last_human_open_count,
        reasoned.is_company_closed,
        reasoned.is_company_acquired,
        reasoned.is_company_moved,
        reasoned.first_order_at,
        reasoned.completed_order_count,
        reasoned.lifetime_revenue,
        coalesce(orders_at_stake.orders_at_stake_count, 0) as orders_at_stake_count,
        coalesce(orders_at_stake.revenue_at_stake, 0) as revenue_at_stake,
        {{ safe_ratio('reasoned.lifetime_revenue', 'reasoned.completed_order_count') }}
            as average_basket_amount

    from reasoned

    left join orders_at_stake
        on
            reasoned.as_of_date = orders_at_stake.as_of_date
            and reasoned.contact_id = orders_at_stake.contact_id

)

select * from final
