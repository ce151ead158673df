"""Prometheus metrics of the API: what they count (``collectors``) and ``GET /metrics``."""
