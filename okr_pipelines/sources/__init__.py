"""Extract assets, one per source, partitioned by tenant."""
