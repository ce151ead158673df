"""/api/v1 integrations (Jira, GitHub), their status, and KR bindings with preview."""
