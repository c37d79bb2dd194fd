{#
    Inactivity rules, written once and used by the contact snapshot and by the durable
    re-engagement measure.

    Status from the days since the last activity d and the window w of the business cycle
    (every bound is inclusive: the status changes ON the day the bound is reached):
        active     d <  w * at_risk_window_ratio
        at_risk    w * at_risk_window_ratio <= d < w
        inactive   w <= d < w * lost_window_multiple
        lost       d >= w * lost_window_multiple
    With the defaults (B2C, w = 90): active 0-44, at_risk 45-89, inactive 90-179, lost 180+.
    On the window day (d = 90) a B2C contact is already inactive; the day before, at risk.
#}
{% macro inactivity_status(days_since_activity, window_days) -%}
    case
        when {{ days_since_activity }} >= {{ window_days }} * {{ var('lost_window_multiple') }}
            then 'lost'
        when {{ days_since_activity }} >= {{ window_days }} then 'inactive'
        when {{ days_since_activity }} >= {{ window_days }} * {{ var('at_risk_window_ratio') }}
            then 'at_risk'
        else 'active'
    end
{%- endmacro %}

{#
    Business cycle of a contact: annual when its industry is listed in
    var('annual_cycle_industries'), else b2b_long for B2B contacts, else b2c_frequent.
#}
{% macro business_cycle(business_type, industry) -%}
    {%- set annual_industries = var('annual_cycle_industries') -%}
    case
        {%- if annual_industries | length > 0 %}
        when {{ industry }} in ({{ reveil_sql_string_list(annual_industries) }}) then 'annual'
        {%- endif %}
        when {{ business_type }} = 'B2B' then 'b2b_long'
        else 'b2c_frequent'
    end
{%- endmacro %}

{# Inactivity window in days of a business cycle (see business_cycle). #}
{% macro inactivity_window_days(business_cycle) -%}
    case {{ business_cycle }}
        when 'annual' then {{ var('inactivity_window_days_annual') }}
        when 'b2b_long' then {{ var('inactivity_window_days_b2b') }}
        else {{ var('inactivity_window_days_b2c') }}
    end
{%- endmacro %}

{#
    Tenure band label from var('tenure_band_bounds_days') = [b1, b2, ...]: '< b1 days',
    'b1-(b2-1) days', ..., '>= bn days'. Labels do not sort alphabetically in band order: sort on
    tenure_band_order() (1 = newest contacts).
#}
{% macro tenure_band(days_expression) -%}
    {%- set bounds = var('tenure_band_bounds_days') -%}
    case
        {%- for bound in bounds %}
        {%- if loop.first %}
        when {{ days_expression }} < {{ bound }} then '< {{ bound }} days'
        {%- else %}
        when {{ days_expression }} < {{ bound }} then '{{ bounds[loop.index0 - 1] }}-{{ bound - 1 }} days'
        {%- endif %}
        {%- endfor %}
        else '>= {{ bounds[-1] }} days'
    end
{%- endmacro %}

{% macro tenure_band_order(days_expression) -%}
    {%- set bounds = var('tenure_band_bounds_days') -%}
    case
        {%- for bound in bounds %}
        when {{ days_expression }} < {{ bound }} then {{ loop.index }}
        {%- endfor %}
        else {{ bounds | length + 1 }}
    end
{%- endmacro %}

{# A Jinja list of strings as a SQL list body: 'a', 'b'. #}
{% macro reveil_sql_string_list(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#
    When a contact last acted: its latest completed order or click (a deliberate action;
    opens are weaker signals and do not count). Null when neither happened.
#}
{% macro last_activity_at(last_order_at, last_click_at) -%}
    {{ reveil_greatest([last_order_at, last_click_at]) }}
{%- endmacro %}
