with

source as (

    select * from {{ source('raw', 'contacts') }}

),

renamed as (

    select
        contact_id,
        lower(trim(email)) as email,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        trim(phone) as phone,
        upper(trim(country)) as country_code,
        upper(trim(business_type)) as business_type,
        trim(company_name) as company_name,
        replace(trim(siret), ' ', '') as siret,
        lower(trim(industry)) as industry,
        lower(trim(acquisition_source)) as acquisition_source,
        created_at,
        cast(created_at as date) as created_date,
        coalesce(email_consent, false) as has_email_consent,
        email_consent_at,
        coalesce(sms_consent, false) as has_sms_consent,
        sms_consent_at,
        coalesce(push_consent, false) as has_push_consent,
        push_consent_at,
        lower(trim(preferred_channel)) as preferred_channel,
        coalesce(legal_hold, false) as is_on_legal_hold,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
