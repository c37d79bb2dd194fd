{#
    The as-of dates the contact snapshots are computed at. A snapshot at date D sees what
    happened up to the end of day D and nothing later.
      - current: reveil_as_of(), the snapshot the marts show;
      - backtest: backtest_lookback_days earlier, for the reactivation backtest;
      - reactivation_send: the day before each reactivation send, so a touch is described by
        the RFM segment its contact had when the message went out (orders only: cheap).
#}
with

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

current_snapshot as (

    select
        {{ reveil_as_of() }} as as_of_date,
        'current' as snapshot_kind

),

backtest_snapshot as (

    select
        {{ reveil_as_of(-var('backtest_lookback_days')) }} as as_of_date,
        'backtest' as snapshot_kind

),

reactivation_send_snapshots as (

    select distinct
        {{ reveil_add_days('sent_date', -1) }} as as_of_date,
        'reactivation_send' as snapshot_kind

    from campaigns

    where
        is_reactivation
        and sent_date <= {{ reveil_as_of() }}

),

unioned as (

    select * from current_snapshot
    union all
    select * from backtest_snapshot
    union all
    select * from reactivation_send_snapshots

),

final as (

    select
        as_of_date,
        max(case when snapshot_kind = 'current' then 1 else 0 end) = 1 as is_current_snapshot,
        max(case when snapshot_kind = 'backtest' then 1 else 0 end) = 1 as is_backtest_snapshot,
        max(case when snapshot_kind = 'reactivation_send' then 1 else 0 end) = 1
            as is_reactivation_send_snapshot

    from unioned

    group by as_of_date

)

select * from final
