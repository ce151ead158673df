with

source as (

    select * from {{ source('app', 'kr_bindings') }}

),

renamed as (

    select
        ----------  ids
        binding_id,
        key_result_id,
        integration_id,

        ---------- text
        source,
        metric,
        jql,
        field_name,
        list_transform(coalesce(repositories, []), lambda repository: lower(repository))
            as repositories,

        ---------- categories: how a metric's records become one value
        case
            when metric in ('jira_issue_count', 'github_merged_prs') then 'count'
            when metric = 'jira_field_sum' then 'sum'
            when metric in ('jira_done_share', 'github_merge_rate') then 'share'
            when metric = 'github_median_hours_to_merge' then 'median'
        end as aggregation,

        ---------- booleans
        coalesce(whole_history, false) as is_whole_history,

        ---------- dates (the key result's period, inclusive)
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        cast(period_start as timestamp) as period_start_at

    from source

)

select * from renamed
