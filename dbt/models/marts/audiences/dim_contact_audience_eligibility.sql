{#
    Every contact at the snapshot date (the audience date), whether it may be woken today and
    why not, with its channel, sequence step and expected value. audience_reactivation_today
    takes the eligible ones.

    Exclusion (first matching rule is exclusion_reason; eligible when none matches):
      1. status_not_targeted    inactivity_status not in audience_target_statuses
      2. never_purchased        no completed order: nothing to win back, no segment
      3. purge_candidate        in purge_candidates (about to be purged)
      4. suppressed             on the suppression list (audiences.suppressed_contacts, written
                                by the Dagster asset audiences/suppressed_contacts from the
                                keyed hashes of suppression.email_hashes; absent = nobody)
      5. hard_bounced           in hard_bounce_suppressions (dead address not re-enabled)
      6. no_consented_channel   no reachable channel (int_contact_channels_ranked)
      7. running_sequence       touched less than audience_running_sequence_days ago in a
                                sequence that is not finished (int_contact_sequences_tracked)
      8. sequence_resting       finished its sequence less than audience_sequence_restart_days ago

    Expected value = reactivation probability x value at stake:
      segment_backtest  the reactivation rate of the contact's RFM segment in
                        rpt_segment_reactivation_backtest (all segments together when its
                        segment had nobody to measure; 0 when nobody at all) x revenue_at_stake
                        of dim_contact_inactivity;
      clv_prediction    P(alive) x 12-month CLV of the contact's row in clv.customer_predictions,
                        when that table exists and holds the contact (optional hook).
    Channel: the cheapest reachable channel when the segment's reactivation rate is below
    audience_low_probability_threshold (reason cheapest_low_probability) or the status is in
    audience_cheapest_channel_statuses (cheapest_status); otherwise the best channel of
    int_contact_channels_ranked (preferred, email_inactive or cheapest).
#}
{%- set suppressed_relation = source('audiences', 'suppressed_contacts') -%}
with

inactivity as (

    select * from {{ ref('dim_contact_inactivity') }}

),

backtest as (

    select * from {{ ref('rpt_segment_reactivation_backtest') }}

),

channels as (

    select * from {{ ref('int_contact_channels_ranked') }}

),

sequences as (

    select * from {{ ref('int_contact_sequences_tracked') }}

),

purge_candidates as (

    select * from {{ ref('purge_candidates') }}

),

hard_bounces as (

    select * from {{ ref('hard_bounce_suppressions') }}

),

suppressed as (

    {{ reveil_optional_relation(
        suppressed_relation,
        "select cast(null as " ~ dbt.type_string() ~ ") as contact_id"
        ~ " from (select 1 as placeholder) as no_rows where 1 = 0"
    ) }}

),

overall_rate as (

    select
        {{ safe_ratio('sum(reactivated_customer_count)', 'sum(inactive_customer_count)') }}
            as reactivation_rate

    from backtest

),

suppressed_contacts as (

    select distinct contact_id from suppressed

),

joined as (

    select
        inactivity.as_of_date as audience_date,
        inactivity.contact_id,
        inactivity.inactivity_status,
        inactivity.inactivity_reason,
        inactivity.rfm_segment,
        inactivity.days_since_last_purchase,
        inactivity.completed_order_count,
        inactivity.inactivity_status in (
            {{ reveil_sql_string_list(var('audience_target_statuses')) }}
        ) as is_target_status,
        inactivity.completed_order_count > 0 as has_purchased,
        purge_candidates.contact_id is not null as is_purge_candidate,
        suppressed_contacts.contact_id is not null as is_suppressed,
        hard_bounces.contact_id is not null as is_hard_bounced,
        channels.best_channel is not null as has_reachable_channel,
        coalesce(sequences.is_in_running_sequence, false) as is_in_running_sequence,
        sequences.contact_id is not null
        and sequences.next_sequence_step is null as is_sequence_resting,
        case
            when sequences.contact_id is null then 1
            else sequences.next_sequence_step
        end as sequence_step,
        sequences.last_touch_date,
        sequences.last_touch_step,
        sequences.days_since_last_touch,
        coalesce(backtest.reactivation_rate, overall_rate.reactivation_rate, 0)
            as segment_reactivation_rate,
        inactivity.revenue_at_stake,
        inactivity.p_alive is not null
        and inactivity.clv_12m is not null as has_clv_prediction,
        inactivity.p_alive,
        inactivity.clv_12m,
        channels.best_channel,
        channels.best_channel_cost,
        channels.best_channel_reason,
        channels.cheapest_channel,
        channels.cheapest_channel_cost

    from inactivity

    cross join overall_rate

    left join backtest
        on inactivity.rfm_segment = backtest.rfm_segment

    left join channels
        on inactivity.contact_id = channels.contact_id

    left join sequences
        on inactivity.contact_id = sequences.contact_id

    left join purge_candidates
        on inactivity.contact_id = purge_candidates.contact_id

    left join hard_bounces
        on inactivity.contact_id = hard_bounces.contact_id

    left join suppressed_contacts
        on inactivity.contact_id = suppressed_contacts.contact_id

),

evaluated as (

    select
        *,
        case
            when not is_target_status then 'status_not_targeted'
            when not has_purchased then 'never_purchased'
            when is_purge_candidate then 'purge_candidate'
            when is_suppressed then 'suppressed'
            when is_hard_bounced then 'hard_bounced'
            when not has_reachable_channel then 'no_consented_channel'
            when is_in_running_sequence then 'running_sequence'
            when is_sequence_resting then 'sequence_resting'
        end as exclusion_reason,
        segment_reactivation_rate < {{ var('audience_low_probability_threshold') }}
            as is_low_probability,
        inactivity_status in (
            {{ reveil_sql_string_list(var('audience_cheapest_channel_statuses')) }}
        ) as is_cheapest_channel_status,
        case
            when has_clv_prediction then coalesce(p_alive, 0)
            else segment_reactivation_rate
        end as reactivation_probability,
        case
            when has_clv_prediction then coalesce(clv_12m, 0)
            else coalesce(revenue_at_stake, 0)
        end as value_at_stake,
        case
            when has_clv_prediction then 'clv_prediction'
            else 'segment_backtest'
        end as expected_value_method

    from joined

),

final as (

    select
        audience_date,
        contact_id,
        inactivity_status,
        inactivity_reason,
        rfm_segment,
        days_since_last_purchase,
        exclusion_reason is null as is_eligible,
        exclusion_reason,
        is_target_status,
        has_purchased,
        is_purge_candidate,
        is_suppressed,
        is_hard_bounced,
        has_reachable_channel,
        is_in_running_sequence,
        is_sequence_resting,
        sequence_step,
        last_touch_date,
        last_touch_step,
        days_since_last_touch,
        {{ reveil_round('segment_reactivation_rate', 6) }} as segment_reactivation_rate,
        {{ reveil_round('reactivation_probability', 6) }} as reactivation_probability,
        value_at_stake,
        {{ reveil_round('reactivation_probability * value_at_stake', 6) }} as expected_value,
        expected_value_method,
        case
            when is_low_probability or is_cheapest_channel_status then cheapest_channel
            else best_channel
        end as channel,
        case
            when best_channel is null then null
            when is_low_probability then 'cheapest_low_probability'
            when is_cheapest_channel_status then 'cheapest_status'
            else best_channel_reason
        end as channel_choice_reason,
        case
            when is_low_probability or is_cheapest_channel_status then cheapest_channel_cost
            else best_channel_cost
        end as channel_cost

    from evaluated

)

select * from final
