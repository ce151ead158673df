with

source as (

    select * from {{ source('github', 'pull_requests') }}

),

renamed as (

    select
        ----------  ids
        integration_id,
        pull_request_id,
        lower(repository) as repository,
        number as pull_request_number,

        ---------- text
        title,
        state,
        author_login,
        base_ref,
        html_url,

        ---------- booleans
        coalesce(is_draft, false) as is_draft,
        merged_at is not null as is_merged,
        coalesce(closed_at, merged_at) is not null as is_closed,

        ---------- timestamps (UTC); a merged pull request is closed when it merged
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(coalesce(closed_at, merged_at) as timestamp) as closed_at,
        cast(merged_at as timestamp) as merged_at

    from source

)

select * from renamed
