with

source as (

    select * from {{ source('jira', 'binding_issues') }}

),

renamed as (

    select
        ----------  ids
        integration_id,
        binding_id,
        issue_id,
        scope_hash,

        ---------- timestamps (UTC)
        cast(snapshot_at as timestamp) as snapshot_at

    from source

)

select * from renamed
