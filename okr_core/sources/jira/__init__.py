"""Jira Cloud through the ``jira`` client library: issues matching each binding's JQL."""
