with

source as (

    select * from {{ source('raw', 'company_registry') }}

),

renamed as (

    select
        replace(trim(siret), ' ', '') as siret,
        lower(trim(administrative_status)) as administrative_status,
        lower(trim(administrative_status)) = 'closed' as is_closed,
        closed_at as closed_date,
        coalesce(is_moved, false) as is_moved,
        moved_at as moved_date,
        coalesce(is_acquired, false) as is_acquired,
        acquired_at as acquired_date,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
