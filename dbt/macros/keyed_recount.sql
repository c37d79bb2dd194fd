{#
    Config of an incremental model that recounts whole keys (a campaign's messages, a day's
    baskets, a customer's categories): delete+insert on `unique_key` on DuckDB, a plain table
    on Spark (no delete+insert on its Parquet tables: every build is a full one).

    A build selects the keys to recount and writes every row of each. A recounted key left
    with nothing (its rows re-delivered elsewhere, or out of the snapshot) still needs a row,
    or delete+insert would keep its old ones: the model writes an empty placeholder row for
    it, and the post-hook deletes the rows matching `empty_row_condition` (SQL, may hold Jinja
    rendered when the hook runs, e.g. a reveil_as_of() bound).
#}
{% macro reveil_keyed_recount_config(unique_key, empty_row_condition) %}
    {{ config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        unique_key=unique_key,
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=([] if target.type == 'spark' else [
            'delete from {{ this }} where ' ~ empty_row_condition
        ]),
    ) }}
{% endmacro %}
