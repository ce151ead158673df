"""One asset per SQL model of dbt_like_sql/, lineage from ref()."""
