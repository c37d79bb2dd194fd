{#
    The experiment groups of every contact, drawn by deterministic hashes of its contact_id
    (macros reveil_hash_prefix, reveil_hex_fraction: md5 -> number in [0, 1)), so a contact
    keeps its groups across runs and audience dates as long as the salts are kept:
      holdout_fraction = fraction of md5('<audience_holdout_salt>|<contact_id>');
      is_holdout       = holdout_fraction < audience_holdout_share (control group: never
                         contacted, measured against the treated in rpt_audience_lift);
      variant_fraction = fraction of md5('<audience_variant_salt>|<contact_id>'), independent
                         of the first; variant = the floor(fraction x n)-th of audience_variants.
    The draw does not look at the segment: each segment's audience holds about
    audience_holdout_share of hold-outs (binomially, exactly only on average).
#}
with

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

hashed as (

    select
        contact_id,
        {{ reveil_hash_prefix(dbt.concat([
            reveil_sql_string_list([var('audience_holdout_salt') ~ '|']), 'contact_id'
        ])) }} as holdout_hash_prefix,
        {{ reveil_hash_prefix(dbt.concat([
            reveil_sql_string_list([var('audience_variant_salt') ~ '|']), 'contact_id'
        ])) }} as variant_hash_prefix

    from contacts

),

drawn as (

    select
        contact_id,
        {{ reveil_hex_fraction('holdout_hash_prefix') }} as holdout_fraction,
        {{ reveil_hex_fraction('variant_hash_prefix') }} as variant_fraction

    from hashed

),

final as (

    select
        contact_id,
        {{ reveil_sql_string_list([var('audience_holdout_salt')]) }} as holdout_salt,
        holdout_fraction,
        holdout_fraction < {{ var('audience_holdout_share') }} as is_holdout,
        {{ reveil_sql_string_list([var('audience_variant_salt')]) }} as variant_salt,
        variant_fraction,
        {{ audience_variant('variant_fraction') }} as variant

    from drawn

)

select * from final
