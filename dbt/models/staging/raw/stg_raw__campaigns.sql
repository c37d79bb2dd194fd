with

source as (

    select * from {{ source('raw', 'campaigns') }}

),

renamed as (

    select
        campaign_id,
        trim(campaign_name) as campaign_name,
        lower(trim(campaign_kind)) as campaign_kind,
        reactivation_step,
        lower(trim(channel)) as channel,
        sent_at,
        cast(sent_at as date) as sent_date,
        cost_per_message,
        upper(trim(variant)) as variant,
        lower(trim(campaign_kind)) = 'reactivation' as is_reactivation,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
