with

bindings as (

    select * from {{ ref('stg_app__kr_bindings') }}

),

as_of as (

    select cast({{ var('as_of_at') }} as timestamp) as as_of_at

),

windows as (

    select
        bindings.binding_id,
        bindings.period_start as first_day,
        least(bindings.period_end, cast(as_of.as_of_at as date)) as last_day,
        cast(as_of.as_of_at as date) as as_of_day

    from bindings
    cross join as_of

),

days as (

    select
        binding_id,
        as_of_day,
        cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as day

    from windows
    where first_day <= last_day

),

final as (

    select
        binding_id,
        day,
        cast(day as timestamp) + interval 1 day as day_end_at,
        day = max(day) over (partition by binding_id) as is_latest_day,
        day = as_of_day as is_as_of_day

    from days

)

select * from final
