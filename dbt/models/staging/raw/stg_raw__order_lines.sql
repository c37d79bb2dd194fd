with

source as (

    select * from {{ source('raw', 'order_lines') }}

),

renamed as (

    select
        {{ dbt.concat(['order_id', "'-'", dbt.safe_cast('line_number', dbt.type_string())]) }}
            as order_line_id,
        order_id,
        line_number,
        product_id,
        lower(trim(product_category)) as product_category,
        quantity,
        cast(unit_price as decimal(14, 2)) as unit_price,
        cast(quantity * unit_price as decimal(14, 2)) as line_amount,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
