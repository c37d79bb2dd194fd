{#
    The contacts to wake today (audience_date = the snapshot date), one row per contact: the
    eligible contacts of dim_contact_audience_eligibility, with what to send them.
      offer          offer_tiers seed, by RFM segment;
      personalised   last purchase category, recommended category, days since last purchase,
                     segment (first name and addresses are joined at export: no contact
                     details in the marts);
      sequence_step  the step to send (1 to reactivation_sequence_steps);
      variant        A/B variant, is_holdout the control group (never contacted, exports leave
                     them out), both drawn by hash in int_contact_experiment_groups_assigned.
    Ranked by expected value (expected_value_rank, 1 = best). With a daily budget
    (audience_daily_budget, EUR; null = none) the contacts are taken by expected value per euro
    of channel cost (free channels first; then expected value, contact_id), as long as the
    cumulative cost of the treated contacts taken so far stays within the budget: the first
    treated contact that does not fit ends the audience. Hold-outs cost nothing but are cut at
    the same place, so treated and held-out contacts come from the same ranking.
#}
with

eligibility as (

    select * from {{ ref('dim_contact_audience_eligibility') }}

    where is_eligible

),

recommendations as (

    select * from {{ ref('int_contact_categories_recommended') }}

),

experiment_groups as (

    select * from {{ ref('int_contact_experiment_groups_assigned') }}

),

offer_tiers as (

    select * from {{ ref('offer_tiers') }}

),

joined as (

    select
        eligibility.audience_date,
        eligibility.contact_id,
        eligibility.rfm_segment,
        eligibility.inactivity_status,
        eligibility.inactivity_reason,
        eligibility.days_since_last_purchase,
        recommendations.last_purchase_category,
        recommendations.recommended_category,
        eligibility.channel,
        eligibility.channel_choice_reason,
        eligibility.channel_cost,
        offer_tiers.offer_tier,
        offer_tiers.discount_percent,
        offer_tiers.offer_description,
        eligibility.sequence_step,
        experiment_groups.variant,
        experiment_groups.is_holdout,
        experiment_groups.holdout_salt,
        eligibility.reactivation_probability,
        eligibility.value_at_stake,
        eligibility.expected_value,
        eligibility.expected_value_method,
        {{ safe_ratio('eligibility.expected_value', 'eligibility.channel_cost') }}
            as expected_value_per_cost

    from eligibility

    inner join experiment_groups
        on eligibility.contact_id = experiment_groups.contact_id

    left join recommendations
        on eligibility.contact_id = recommendations.contact_id

    left join offer_tiers
        on eligibility.rfm_segment = offer_tiers.rfm_segment

),

ranked as (

    select
        *,
        row_number() over (
            order by expected_value desc, contact_id asc
        ) as expected_value_rank,
        row_number() over (
            order by
                case when channel_cost > 0 then 1 else 0 end asc,
                expected_value_per_cost desc,
                expected_value desc,
                contact_id asc
        ) as budget_rank

    from joined

),

budgeted as (

    select
        *,
        sum(case when is_holdout then 0 else channel_cost end) over (
            order by budget_rank
            rows between unbounded preceding and current row
        ) as cumulative_treated_cost

    from ranked

),

final as (

    select
        audience_date,
        contact_id,
        rfm_segment,
        inactivity_status,
        inactivity_reason,
        days_since_last_purchase,
        last_purchase_category,
        recommended_category,
        channel,
        channel_choice_reason,
        channel_cost,
        offer_tier,
        discount_percent,
        offer_description,
        sequence_step,
        variant,
        is_holdout,
        holdout_salt,
        reactivation_probability,
        value_at_stake,
        expected_value,
        expected_value_method,
        expected_value_per_cost,
        expected_value_rank,
        budget_rank,
        cumulative_treated_cost

    from budgeted

    {%- if var('audience_daily_budget') is not none %}

    where cumulative_treated_cost <= {{ var('audience_daily_budget') }}
    {%- endif %}

)

select * from final
