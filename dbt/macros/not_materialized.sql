{#
    `with name as {{ reveil_not_materialized() }} (...)`: DuckDB inlines the CTE at each
    reference instead of materialising it once (its default for a CTE referenced twice). For a
    CTE that only imports a large relation (events, orders), inlining lets each reference
    filter and project at the scan: a daily incremental build of
    int_contact_engagement_aggregated on 1 M contacts went from 10.7 s to 2.9 s once the
    53 M events stopped being copied; at 10 M, a first build's events spread over their
    snapshot buckets (535 M rows) no longer spill to disk as a copy. Not for CTEs that
    compute something costly (an aggregate, a join with many rows): those are worth
    computing once (int_contact_categories_recommended's purchased lines: 9 s inlined 13 s). Empty on other adapters (Spark has no
    such clause).
#}
{% macro reveil_not_materialized() -%}
    {{ return(adapter.dispatch('reveil_not_materialized')()) }}
{%- endmacro %}

{% macro default__reveil_not_materialized() -%}{%- endmacro %}

{% macro duckdb__reveil_not_materialized() -%}not materialized{%- endmacro %}
