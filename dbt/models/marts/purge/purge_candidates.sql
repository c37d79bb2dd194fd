{#
    The contacts to purge at the snapshot date: one row per contact, with the rule that selects
    it, the evidence, the rule version and the batch. The purge run (Dagster job purge_job,
    requested by the sensor on this model) exports, archives, suppresses and erases them.

    Rules (precedence: the first that matches is purge_rule; matched_rules lists all):
      1. retention_limit  the last contact FROM the person (click or completed order; the date
                          the contact was created when it has none) is more than
                          retention_limit_days before as_of_date. Opens never count (a machine
                          can open); replies would count but no source records them.
      2. company_closed   the contact's company (SIRET) is closed in the registry by the
                          snapshot date: the contact is archived.
      3. sunset_silent    a silent sunset sequence (int_contacts_touches_summarised: >=
                          purge_min_touches touches over >= purge_min_weeks weeks within
                          purge_max_weeks of the first, nothing since the first) AND no
                          completed order within the inactivity window of its business cycle.
    retention_limit comes first because it is a legal obligation, company_closed next because it
    is a fact, sunset_silent last because it is a marketing policy.
    Never a candidate: a contact on legal hold (is_on_legal_hold), whatever the rule.

    batch_id = first 16 hex digits of md5('purge|<as_of_date>|<rule version>'), with '|<n>'
    appended once a real purge executed n batches of that day (macro
    reveil_purge_batches_executed): every build of the same day with the same rules is the same
    batch until a real purge acts, so the sensor requests one purge run for it; the candidates
    left after a real purge are the next batch, never the executed one. The evidence touches are those of the qualifying sequence for sunset_silent, and all
    the contact's reactivation touches otherwise.
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

touches as (

    select * from {{ ref('int_contacts_touches_summarised') }}

),

evaluated as (

    select
        inactivity.contact_id,
        contacts.email,
        contacts.is_on_legal_hold,
        inactivity.business_cycle,
        inactivity.inactivity_window_days,
        cast(inactivity.last_purchase_at as date) as last_purchase_date,
        coalesce(
            inactivity.days_since_last_purchase < inactivity.inactivity_window_days, false
        ) as has_purchased_in_active_window,
        cast({{ reveil_greatest([
            'inactivity.last_click_at',
            'inactivity.last_human_open_at',
            'inactivity.last_purchase_at',
        ]) }} as date) as last_engagement_date,
        cast({{ reveil_greatest([
            'inactivity.last_click_at', 'inactivity.last_purchase_at', 'contacts.created_at'
        ]) }} as date) as last_contact_from_them_date,
        inactivity.is_company_closed,
        coalesce(touches.has_silent_sunset_sequence, false) as has_silent_sunset_sequence,
        touches.first_touch_date,
        touches.last_touch_date,
        coalesce(touches.touch_count, 0) as touch_count,
        touches.touch_days_spanned,
        touches.sequence_first_touch_date,
        touches.sequence_last_touch_date,
        touches.sequence_touch_count,
        touches.sequence_days_spanned

    from inactivity

    inner join contacts
        on inactivity.contact_id = contacts.contact_id

    left join touches
        on inactivity.contact_id = touches.contact_id

),

matched as (

    select
        *,
        {{ reveil_days_between('last_contact_from_them_date', reveil_as_of()) }}
            as days_since_last_contact_from_them,
        {{ reveil_days_between('last_contact_from_them_date', reveil_as_of()) }}
        > {{ var('retention_limit_days') }} as matches_retention_limit,
        is_company_closed as matches_company_closed,
        has_silent_sunset_sequence and not has_purchased_in_active_window as matches_sunset_silent

    from evaluated

    where not is_on_legal_hold

),

labelled as (

    select
        {{ reveil_batch_id('purge', reveil_purge_batches_executed()) }} as batch_id,
        {{ reveil_as_of() }} as as_of_date,
        '{{ var("purge_rule_version") }}' as rule_version,
        contact_id,
        email,
        case
            when matches_retention_limit then 'retention_limit'
            when matches_company_closed then 'company_closed'
            else 'sunset_silent'
        end as purge_rule,
        {{ dbt.concat([
            "case when matches_retention_limit then 'retention_limit ' else '' end",
            "case when matches_company_closed then 'company_closed ' else '' end",
            "case when matches_sunset_silent then 'sunset_silent' else '' end",
        ]) }} as matched_rules_text,
        case when matches_sunset_silent then sequence_first_touch_date else first_touch_date end
            as first_touch_date,
        case when matches_sunset_silent then sequence_last_touch_date else last_touch_date end
            as last_touch_date,
        case when matches_sunset_silent then sequence_touch_count else touch_count end
            as touch_count,
        -- a double on every adapter (Spark would divide by 7.0 in decimal)
        round(
            cast(
                case
                    when matches_sunset_silent then sequence_days_spanned
                    else touch_days_spanned
                end as double
            ) / 7,
            1
        ) as weeks_spanned,
        last_engagement_date,
        last_contact_from_them_date,
        days_since_last_contact_from_them,
        last_purchase_date,
        business_cycle,
        inactivity_window_days

    from matched

    where
        matches_retention_limit
        or matches_company_closed
        or matches_sunset_silent

),

final as (

    select
        batch_id,
        as_of_date,
        rule_version,
        contact_id,
        email,
        purge_rule,
        trim(matched_rules_text) as matched_rules,
        first_touch_date,
        last_touch_date,
        touch_count,
        weeks_spanned,
        last_engagement_date,
        last_contact_from_them_date,
        days_since_last_contact_from_them,
        last_purchase_date,
        business_cycle,
        inactivity_window_days

    from labelled

)

select * from final
