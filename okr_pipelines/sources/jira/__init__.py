"""Jira: the extract asset raw/jira/issues."""
