"""Asset keys, named by layer and source (``["raw", "jira", "issues"]``)."""

from dagster import AssetKey

from okr_core.sql_models import SqlProject

RAW_KEYS = {
    "jira": AssetKey(["raw", "jira", "issues"]),
    "github": AssetKey(["raw", "github", "pull_requests"]),
}
APP_BINDINGS_KEY = AssetKey(["app", "kr_bindings"])
VALUES_KEY = AssetKey(["key_results", "values"])

# The landed tables each ``source()`` of the SQL models reads, by the asset that lands them.
SOURCE_KEYS = {
    ("jira", "issues"): RAW_KEYS["jira"],
    ("jira", "binding_issues"): RAW_KEYS["jira"],
    ("github", "pull_requests"): RAW_KEYS["github"],
    ("app", "kr_bindings"): APP_BINDINGS_KEY,
}


def model_key(project: SqlProject, name: str) -> AssetKey:
    """``["staging", "jira", "stg_jira__issues"]`` or ``["marts", "kr_daily_values"]``."""
    model = project.models[name]
    if model.layer == "staging":
        return AssetKey(["staging", model.group, name])
    return AssetKey([model.layer, name])
