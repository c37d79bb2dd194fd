with

source as (

    select * from {{ source('raw', 'orders_superseded') }}

),

renamed as (

    select
        order_id,
        contact_id,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        _superseded_at as loaded_at

    from source

)

select * from renamed
