"""GitHub: the extract asset raw/github/pull_requests."""
