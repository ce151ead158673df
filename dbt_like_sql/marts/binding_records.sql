with

bindings as (

    select * from {{ ref('stg_app__kr_bindings') }}

),

jira_binding_issues as (

    select * from {{ ref('stg_jira__binding_issues') }}

),

jira_issues as (

    select * from {{ ref('stg_jira__issues') }}

),

pull_requests as (

    select * from {{ ref('stg_github__pull_requests') }}

),

-- Jira: the JQL decides membership (queried per binding at the source); time decides when an
-- issue starts to count. Done issues count from when they were done, others from creation;
-- for the done share every issue is in the population from creation and a success once done.
jira_records as (

    select
        bindings.binding_id,
        'jira' as source,
        jira_issues.issue_id as record_id,
        jira_issues.issue_key as record_key,
        jira_issues.summary as record_title,
        jira_issues.status_name as record_status,
        jira_issues.updated_at as record_updated_at,
        case
            when bindings.metric = 'jira_done_share' then jira_issues.created_at
            when jira_issues.is_done then jira_issues.done_at
            else jira_issues.created_at
        end as counted_from_at,
        case
            when bindings.metric = 'jira_done_share' and jira_issues.is_done
                then jira_issues.done_at
        end as succeeded_at,
        case
            when bindings.metric = 'jira_field_sum'
                then cast(jira_issues.numeric_fields[bindings.field_name] as double)
        end as measure,
        -- inside the period: not done before the period started
        bindings.is_whole_history
        or not jira_issues.is_done
        or jira_issues.done_at >= bindings.period_start_at as is_in_period

    from bindings
    inner join jira_binding_issues
        on
            jira_binding_issues.binding_id = bindings.binding_id
            and jira_binding_issues.integration_id = bindings.integration_id
    inner join jira_issues
        on
            jira_issues.integration_id = jira_binding_issues.integration_id
            and jira_issues.issue_id = jira_binding_issues.issue_id
    where bindings.source = 'jira'

),

-- GitHub: the repositories decide membership; merged PRs count from their merge, the merge
-- rate's population is the closed PRs (a success when merged).
github_events as (

    select
        bindings.binding_id,
        bindings.metric,
        bindings.is_whole_history,
        bindings.period_start_at,
        pull_requests.*,
        case
            when bindings.metric = 'github_merge_rate' then pull_requests.closed_at
            else pull_requests.merged_at
        end as event_at

    from bindings
    inner join pull_requests
        on
            pull_requests.integration_id = bindings.integration_id
            and list_contains(bindings.repositories, pull_requests.repository)
    where bindings.source = 'github'

),

github_records as (

    select
        binding_id,
        'github' as source,
        pull_request_id as record_id,
        repository || '#' || pull_request_number as record_key,
        title as record_title,
        case when is_merged then 'merged' else state end as record_status,
        updated_at as record_updated_at,
        event_at as counted_from_at,
        case when metric = 'github_merge_rate' then merged_at end as succeeded_at,
        case
            when metric = 'github_median_hours_to_merge'
                then date_diff('second', created_at, merged_at) / 3600.0
        end as measure,
        is_whole_history or event_at >= period_start_at as is_in_period

    from github_events

),

unioned as (

    select * from jira_records
    union all by name
    select * from github_records

),

final as (

    select
        binding_id,
        source,
        record_id,
        record_key,
        record_title,
        record_status,
        record_updated_at,
        counted_from_at,
        succeeded_at,
        measure

    from unioned
    where is_in_period and counted_from_at is not null

)

select * from final
