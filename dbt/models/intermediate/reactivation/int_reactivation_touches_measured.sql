{#
    Reactivation touches with their outcome: attributed orders and revenue, and for converted
    touches whether the contact is still "active" (status rules of macro inactivity_status, its
    business cycle's window) durable_reengagement_days_short / _long days after the reactivating
    order (its first attributed order). Activity = completed order or click, as everywhere.
    A horizon is measurable only when it has passed by the snapshot date.
#}
with

touches as (

    select * from {{ ref('int_reactivation_touches') }}

),

attributed_orders as (

    select * from {{ ref('int_reactivation_orders_attributed') }}

),

orders as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__orders') }}

),

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

),

activities as (

    select
        contact_id,
        ordered_date as activity_date

    from orders

    where is_completed

    union all

    select
        contact_id,
        occurred_date as activity_date

    from events

    where event_type = 'click'

),

conversions as (

    select
        touch_id,
        count(*) as attributed_order_count,
        cast(sum(amount) as {{ reveil_money_type() }}) as attributed_revenue,
        cast(min(ordered_at) as date) as reactivated_date

    from attributed_orders

    group by touch_id

),

horizons as (

    select
        touches.touch_id,
        touches.contact_id,
        {{ inactivity_window_days('touches.business_cycle') }} as inactivity_window_days,
        conversions.reactivated_date,
        {{ reveil_add_days(
            'conversions.reactivated_date', var('durable_reengagement_days_short')
        ) }} as short_horizon_date,
        {{ reveil_add_days(
            'conversions.reactivated_date', var('durable_reengagement_days_long')
        ) }} as long_horizon_date

    from touches

    inner join conversions
        on touches.touch_id = conversions.touch_id

),

last_activity_by_horizon as (

    select
        horizons.touch_id,
        max(
            case
                when activities.activity_date <= horizons.short_horizon_date
                    then activities.activity_date
            end
        ) as last_activity_by_short_horizon,
        max(activities.activity_date) as last_activity_by_long_horizon

    from horizons

    inner join activities
        on
            horizons.contact_id = activities.contact_id
            and horizons.reactivated_date <= activities.activity_date
            and horizons.long_horizon_date >= activities.activity_date

    group by horizons.touch_id

),

durability as (

    select
        horizons.touch_id,
        horizons.short_horizon_date <= {{ reveil_as_of() }} as is_short_horizon_measurable,
        horizons.long_horizon_date <= {{ reveil_as_of() }} as is_long_horizon_measurable,
        {{ inactivity_status(
            reveil_days_between(
                'last_activity_by_horizon.last_activity_by_short_horizon',
                'horizons.short_horizon_date'
            ),
            'horizons.inactivity_window_days'
        ) }} = 'active' as is_active_at_short_horizon,
        {{ inactivity_status(
            reveil_days_between(
                'last_activity_by_horizon.last_activity_by_long_horizon',
                'horizons.long_horizon_date'
            ),
            'horizons.inactivity_window_days'
        ) }} = 'active' as is_active_at_long_horizon

    from horizons

    inner join last_activity_by_horizon
        on horizons.touch_id = last_activity_by_horizon.touch_id

),

final as (

    select
        touches.*,
        conversions.touch_id is not null as is_converted,
        coalesce(conversions.attributed_order_count, 0) as attributed_order_count,
        coalesce(conversions.attributed_revenue, 0) as attributed_revenue,
        conversions.reactivated_date,
        coalesce(durability.is_short_horizon_measurable, false)
            as is_short_horizon_measurable,
        coalesce(
            durability.is_short_horizon_measurable and durability.is_active_at_short_horizon,
            false
        ) as is_durably_reengaged_short,
        coalesce(durability.is_long_horizon_measurable, false) as is_long_horizon_measurable,
        coalesce(
            durability.is_long_horizon_measurable and durability.is_active_at_long_horizon,
            false
        ) as is_durably_reengaged_long

    from touches

    left join conversions
        on touches.touch_id = conversions.touch_id

    left join durability
        on touches.touch_id = durability.touch_id

)

select * from final
