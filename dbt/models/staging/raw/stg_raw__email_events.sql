with

source as (

    select * from {{ source('raw', 'email_events') }}

),

cleaned as (

    select
        *,
        replace(replace(lower(trim(event_type)), '-', '_'), ' ', '_') as cleaned_event_type

    from source

),

renamed as (

    select
        event_id,
        campaign_id,
        contact_id,
        -- canonical types: sent, delivered, open, click, soft_bounce, hard_bounce,
        -- unsubscribe, spam_complaint; common export spellings are mapped onto them
        case cleaned_event_type
            when 'send' then 'sent'
            when 'delivery' then 'delivered'
            when 'opened' then 'open'
            when 'clicked' then 'click'
            when 'softbounce' then 'soft_bounce'
            when 'bounce_soft' then 'soft_bounce'
            when 'hardbounce' then 'hard_bounce'
            when 'bounce_hard' then 'hard_bounce'
            when 'unsubscribed' then 'unsubscribe'
            when 'complaint' then 'spam_complaint'
            when 'spam' then 'spam_complaint'
            else cleaned_event_type
        end as event_type,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        user_agent,
        -- an open fetched by a privacy proxy (Apple MPP) is not a person: it never counts
        -- as engagement anywhere downstream
        coalesce(is_machine_open, false) as is_machine_open,
        _source_file as source_file,
        _loaded_at as loaded_at

    from cleaned

),

flagged as (

    select
        event_id,
        campaign_id,
        contact_id,
        event_type,
        occurred_at,
        occurred_date,
        user_agent,
        event_type = 'open' and is_machine_open as is_machine_open,
        event_type = 'open' and not is_machine_open as is_human_open,
        source_file,
        loaded_at

    from renamed

)

select * from flagged
