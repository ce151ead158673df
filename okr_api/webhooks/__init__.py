"""Signed webhook deliveries from GitHub and Jira, queued for the webhook sensor."""
