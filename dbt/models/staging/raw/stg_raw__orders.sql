with

source as (

    select * from {{ source('raw', 'orders') }}

),

renamed as (

    select
        order_id,
        contact_id,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        cast(amount as decimal(14, 2)) as amount,
        upper(trim(currency)) as currency,
        lower(trim(status)) as order_status,
        lower(trim(status)) = 'completed' as is_completed,
        -- orders of purged contacts are kept for accounting under a pseudonym
        coalesce(contact_id like 'purged:%', false) as is_pseudonymised,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
