"""Source connectors: plain Python around the vendors' real client libraries.

They live in okr_core (not in the Dagster face) because both faces use them: the pipelines
extract with them, and the API runs a binding's preview and an integration's connection test.
Each source has a folder: ``client.py`` (the real client, configured by base URL only),
``records.py`` (record shapes and conversion), ``metrics.py`` where a source needs it.
"""
