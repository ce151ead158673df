"""Each SQL model is one tenant-partitioned asset whose dependencies are its ref()s and sources."""

from __future__ import annotations

from dagster import AssetKey

from okr_core.binding_values import load_project
from okr_pipelines.definitions import defs
from okr_pipelines.keys import APP_BINDINGS_KEY, RAW_KEYS, VALUES_KEY, model_key
from okr_pipelines.partitions import tenant_partitions


def test_every_model_is_an_asset_with_its_lineage() -> None:
    project = load_project()
    graph = defs.resolve_asset_graph()
    for name, model in project.models.items():
        key = model_key(project, name)
        node = graph.get(key)
        expected = {model_key(project, ref) for ref in model.refs}
        expected |= {
            RAW_KEYS["jira"] if source[0] == "jira" else RAW_KEYS["github"]
            for source in model.sources
            if source[0] in RAW_KEYS
        }
        expected |= {APP_BINDINGS_KEY for source in model.sources if source[0] == "app"}
        assert set(node.parent_keys) == expected, name
        assert node.partitions_def == tenant_partitions
        assert model.grain in (node.description or "")
    assert set(graph.get(VALUES_KEY).parent_keys) == {model_key(project, "kr_daily_values")}


def test_extract_assets_are_grouped_by_source() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW_KEYS["jira"]).group_name == "jira"
    assert graph.get(RAW_KEYS["github"]).group_name == "github"
    assert graph.get(AssetKey(["staging", "jira", "stg_jira__issues"])).group_name == "jira"
    assert graph.get(VALUES_KEY).group_name == "key_results"
