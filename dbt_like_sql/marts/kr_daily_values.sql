with

bindings as (

    select * from {{ ref('stg_app__kr_bindings') }}

),

binding_days as (

    select * from {{ ref('binding_days') }}

),

binding_records as (

    select * from {{ ref('binding_records') }}

),

day_records as (

    select
        binding_days.binding_id,
        binding_days.day,
        binding_records.record_id,
        binding_records.record_updated_at,
        binding_records.measure,
        coalesce(binding_records.succeeded_at < binding_days.day_end_at, false)
            as is_success

    from binding_days
    inner join binding_records
        on
            binding_records.binding_id = binding_days.binding_id
            and binding_records.counted_from_at < binding_days.day_end_at

),

aggregated as (

    select
        binding_id,
        day,
        count(*) as count_records,
        count(*) filter (where is_success) as count_successes,
        sum(measure) as measure_sum,
        median(measure) as measure_median,
        md5(
            string_agg(
                record_id || ':' || coalesce(cast(epoch_ms(record_updated_at) as varchar), ''),
                ',' order by record_id
            )
        ) as record_set_hash

    from day_records
    group by binding_id, day

),

final as (

    select
        binding_days.binding_id,
        bindings.key_result_id,
        bindings.metric,
        binding_days.day,
        binding_days.is_latest_day,
        binding_days.is_as_of_day,
        coalesce(aggregated.count_records, 0) as record_count,
        cast(
            case bindings.aggregation
                when 'count' then coalesce(aggregated.count_records, 0)
                when 'sum' then coalesce(aggregated.measure_sum, 0)
                when 'share' then
                    case
                        when aggregated.count_records > 0
                            then round(
                                100.0 * aggregated.count_successes / aggregated.count_records, 4
                            )
                    end
                when 'median' then round(aggregated.measure_median, 4)
            end as double
        ) as value,
        coalesce(aggregated.record_set_hash, md5('')) as record_set_hash

    from binding_days
    inner join bindings on bindings.binding_id = binding_days.binding_id
    left join aggregated
        on
            aggregated.binding_id = binding_days.binding_id
            and aggregated.day = binding_days.day

)

select * from final
