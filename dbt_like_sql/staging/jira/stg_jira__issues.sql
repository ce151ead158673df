with

source as (

    select * from {{ source('jira', 'issues') }}

),

renamed as (

    select
        ----------  ids
        integration_id,
        issue_id,
        issue_key,
        project_key,

        ---------- text
        summary,
        status_name,
        lower(status_category_key) as status_category_key,

        ---------- booleans
        coalesce(lower(status_category_key) = 'done', false) as is_done,

        ---------- numerics
        numeric_fields,

        ---------- timestamps (UTC)
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(resolved_at as timestamp) as resolved_at,
        case
            when lower(status_category_key) = 'done'
                then cast(
                    coalesce(resolved_at, status_category_changed_at, updated_at) as timestamp
                )
        end as done_at

    from source

)

select * from renamed
