{#
    The channels each contact can be reached on at the snapshot date, and the best and the
    cheapest of them (costs: seed channel_costs).
    Reachable (consented):
      email  email consent, an address, and no unsubscribe from or spam complaint about an
             email message after the consent was given (email_consent_at; any, when unknown);
      sms    SMS consent and a phone number, no unsubscribe from an SMS after the consent;
      push   push consent, no unsubscribe from a push after the consent.
    Best channel, first of the reachable channels ordered by:
      1. email last when the contact is email-inactive (is_email_inactive, or inactivity reason
         deliverability) and another channel is reachable: its mail is not read;
      2. the preferred channel (preferred_channel) first;
      3. cost, then channel name.
    best_channel_reason: preferred (the preferred channel), email_inactive (email reachable but
    set aside for rule 1), cheapest (otherwise). cheapest_channel ignores rules 1 and 2.
    Contacts with no reachable channel have null channels.
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

inactivity as (

    select * from {{ ref('int_contact_inactivity_classified') }}

    where as_of_date = {{ reveil_as_of() }}

),

events as {{ reveil_not_materialized() }} (

    select * from {{ ref('stg_raw__email_events') }}

    where occurred_date <= {{ reveil_as_of() }}

),

campaigns as (

    select * from {{ ref('stg_raw__campaigns') }}

),

channel_costs as (

    select * from {{ ref('channel_costs') }}

),

opt_outs as (

    select
        events.contact_id,
        max(case when campaigns.channel = 'email' then events.occurred_at end)
            as last_email_opt_out_at,
        max(case when campaigns.channel = 'sms' then events.occurred_at end)
            as last_sms_opt_out_at,
        max(case when campaigns.channel = 'push' then events.occurred_at end)
            as last_push_opt_out_at

    from events

    inner join campaigns
        on events.campaign_id = campaigns.campaign_id

    where events.event_type in ('unsubscribe', 'spam_complaint')

    group by events.contact_id

),

reachability as (

    select
        contacts.contact_id,
        contacts.preferred_channel,
        coalesce(
            inactivity.is_email_inactive or inactivity.inactivity_reason = 'deliverability',
            false
        ) as is_email_inactive,
        coalesce(
            contacts.has_email_consent
            and coalesce(contacts.email, '') <> ''
            and (
                opt_outs.last_email_opt_out_at is null
                or opt_outs.last_email_opt_out_at < contacts.email_consent_at
            ),
            false
        ) as is_email_reachable,
        coalesce(
            contacts.has_sms_consent
            and coalesce(contacts.phone, '') <> ''
            and (
                opt_outs.last_sms_opt_out_at is null
                or opt_outs.last_sms_opt_out_at < contacts.sms_consent_at
            ),
            false
        ) as is_sms_reachable,
        coalesce(
            contacts.has_push_consent
            and (
                opt_outs.last_push_opt_out_at is null
                or opt_outs.last_push_opt_out_at < contacts.push_consent_at
            ),
            false
        ) as is_push_reachable

    from contacts

    inner join inactivity
        on contacts.contact_id = inactivity.contact_id

    left join opt_outs
        on contacts.contact_id = opt_outs.contact_id

),

counted as (

    select
        *,
        case when is_email_reachable then 1 else 0 end
        + case when is_sms_reachable then 1 else 0 end
        + case when is_push_reachable then 1 else 0 end as reachable_channel_count

    from reachability

),

reachable_channels as (

    select
        contact_id,
        'email' as channel,
        coalesce(preferred_channel = 'email', false) as is_preferred,
        is_email_inactive and reachable_channel_count > 1 as is_set_aside

    from counted

    where is_email_reachable

    union all

    select
        contact_id,
        'sms' as channel,
        coalesce(preferred_channel = 'sms', false) as is_preferred,
        false as is_set_aside

    from counted

    where is_sms_reachable

    union all

    select
        contact_id,
        'push' as channel,
        coalesce(preferred_channel = 'push', false) as is_preferred,
        false as is_set_aside

    from counted

    where is_push_reachable

),

channels_ranked as (

    select
        reachable_channels.contact_id,
        reachable_channels.channel,
        reachable_channels.is_preferred,
        channel_costs.cost_per_message,
        row_number() over (
            partition by reachable_channels.contact_id
            order by
                case when reachable_channels.is_set_aside then 1 else 0 end asc,
                case when reachable_channels.is_preferred then 0 else 1 end asc,
                channel_costs.cost_per_message asc,
                reachable_channels.channel asc
        ) as best_order,
        row_number() over (
            partition by reachable_channels.contact_id
            order by
                channel_costs.cost_per_message asc,
                reachable_channels.channel asc
        ) as cheapest_order

    from reachable_channels

    inner join channel_costs
        on reachable_channels.channel = channel_costs.channel

),

final as (

    select
        counted.contact_id,
        counted.preferred_channel,
        counted.is_email_inactive,
        counted.is_email_reachable,
        counted.is_sms_reachable,
        counted.is_push_reachable,
        counted.reachable_channel_count,
        best_channels.channel as best_channel,
        best_channels.cost_per_message as best_channel_cost,
        case
            when best_channels.channel is null then null
            when best_channels.is_preferred then 'preferred'
            when
                counted.is_email_reachable
                and counted.is_email_inactive
                and best_channels.channel <> 'email'
                then 'email_inactive'
            else 'cheapest'
        end as best_channel_reason,
        cheapest_channels.channel as cheapest_channel,
        cheapest_channels.cost_per_message as cheapest_channel_cost

    from counted

    left join channels_ranked as best_channels
        on
            counted.contact_id = best_channels.contact_id
            and best_channels.best_order = 1

    left join channels_ranked as cheapest_channels
        on
            counted.contact_id = cheapest_channels.contact_id
            and cheapest_channels.cheapest_order = 1

)

select * from final
