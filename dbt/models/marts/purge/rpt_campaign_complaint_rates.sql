{#
    Spam complaint rate of every email campaign sent by the snapshot date, against the
    bulk-sender ceiling (Gmail/Yahoo 2024: stay under 0.3 %): complaints / delivered messages
    (sent messages when the ESP reported no delivery), counted in contacts.
    complaint_status: alert at >= complaint_rate_alert, warn at >= complaint_rate_warn, else ok.
    is_in_lookback marks the campaigns of the last complaint_rate_lookback_days days, which the
    Dagster asset check (non-blocking) looks at.
#}
with

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

counted as (

    select * from {{ ref('int_campaign_events_counted') }}

),

rated as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.campaign_kind,
        campaigns.sent_date,
        counted.sent_count,
        counted.delivered_count,
        counted.complaint_count,
        case
            when counted.delivered_count > 0 then counted.delivered_count
            else counted.sent_count
        end as complaint_base_count,
        {{ safe_ratio(
            'counted.complaint_count',
            'case when counted.delivered_count > 0 then counted.delivered_count'
            ~ ' else counted.sent_count end'
        ) }} as complaint_rate

    from campaigns

    inner join counted
        on campaigns.campaign_id = counted.campaign_id

    where
        campaigns.channel = 'email'
        and campaigns.sent_date <= {{ reveil_as_of() }}

),

final as (

    select
        *,
        case
            when complaint_rate >= {{ var('complaint_rate_alert') }} then 'alert'
            when complaint_rate >= {{ var('complaint_rate_warn') }} then 'warn'
            else 'ok'
        end as complaint_status,
        sent_date > {{ reveil_add_days(reveil_as_of(), -var('complaint_rate_lookback_days')) }}
            as is_in_lookback

    from rated

)

select * from final
