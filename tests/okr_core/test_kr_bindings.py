"""KR bindings: metric fits the source, parameters are checked, one binding per key result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core import key_results, kr_bindings, tenants
from okr_core.errors import Conflict, NotFound, ValidationFailed
from okr_core.models import KrBinding, Metric, Tenant
from okr_core.secrets import CredentialCipher
from okr_core.tenancy import bind_tenant, tenant_context
from tests.okr_core.integration_support import (
    ACTOR,
    NOW,
    audit_actions,
    audit_text,
    cipher_for,
    make_github,
    make_jira,
    make_key_result,
)


@pytest.fixture
def cipher() -> CredentialCipher:
    return cipher_for()


@pytest.fixture
def tenant(session: Session) -> Tenant:
    tenant = tenants.create_tenant(session, slug="acme", name="Acme")
    bind_tenant(session, tenant.id)
    return tenant


def _bind(session: Session, key_result_id: Any, integration_id: Any, **values: Any) -> KrBinding:
    return kr_bindings.set_binding(
        session,
        actor=ACTOR,
        key_result_id=key_result_id,
        integration_id=integration_id,
        **values,
    )


def test_binding_is_saved_normalised_and_audited(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher).integration
    kr = make_key_result(session)
    binding = _bind(
        session,
        kr.id,
        github.id,
        metric="github_merge_rate",
        parameters={"repositories": [" acme/api ", "acme/web", "ACME/api"]},
        description="  merge rate of the platform repos ",
    )
    assert binding.metric is Metric.github_merge_rate
    assert binding.parameters == {"repositories": ["acme/api", "acme/web"]}
    assert binding.description == "merge rate of the platform repos"
    assert not binding.whole_history
    assert kr_bindings.get_binding(session, kr.id) is binding
    assert audit_actions(session)[-1] == "kr_binding.created"


def test_a_key_result_has_at_most_one_binding_and_put_replaces_it(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher).integration
    github = make_github(session, cipher).integration
    kr = make_key_result(session)
    first = _bind(session, kr.id, jira.id, metric="jira_done_share", parameters={"jql": "x"})
    second = _bind(
        session,
        kr.id,
        github.id,
        metric="github_merged_prs",
        parameters={"repositories": "acme/api"},
        whole_history=True,
    )
    assert first.id == second.id
    assert session.scalars(select(KrBinding)).all() == [second]
    assert second.integration_id == github.id
    assert second.whole_history
    assert audit_actions(session)[-1] == "kr_binding.updated"
    before = len(audit_actions(session))
    _bind(
        session,
        kr.id,
        github.id,
        metric="github_merged_prs",
        parameters={"repositories": ["acme/api"]},
        whole_history=True,
    )
    assert len(audit_actions(session)) == before, "an unchanged binding records nothing"


@pytest.mark.parametrize(
    ("metric", "parameters", "field"),
    [
        ("jira_issue_count", {}, "parameters.jql"),
        ("jira_issue_count", {"jql": "   "}, "parameters.jql"),
        ("jira_issue_count", {"jql": 42}, "parameters.jql"),
        ("jira_issue_count", {"jql": "project = X", "field": "points"}, "parameters.field"),
        ("jira_field_sum", {"jql": "project = X"}, "parameters.field"),
        ("jira_done_share", {"jql": "x" * 4001}, "parameters.jql"),
        ("no_such_metric", {"jql": "x"}, "metric"),
        ("github_merged_prs", {"repositories": ["acme/api"]}, "metric"),
    ],
)
def test_invalid_jira_bindings_name_the_field_to_fix(
    session: Session,
    tenant: Tenant,
    cipher: CredentialCipher,
    metric: str,
    parameters: dict[str, Any],
    field: str,
) -> None:
    jira = make_jira(session, cipher).integration
    kr = make_key_result(session)
    with pytest.raises(ValidationFailed) as excinfo:
        _bind(session, kr.id, jira.id, metric=metric, parameters=parameters)
    assert excinfo.value.details["field"] == field


@pytest.mark.parametrize(
    "repositories",
    [[], None, ["api"], ["acme/"], ["/api"], ["acme/api/extra"], ["acme api/x"], [3]],
)
def test_repositories_must_be_owner_slash_name(
    session: Session, tenant: Tenant, cipher: CredentialCipher, repositories: Any
) -> None:
    github = make_github(session, cipher).integration
    kr = make_key_result(session)
    with pytest.raises(ValidationFailed) as excinfo:
        _bind(
            session,
            kr.id,
            github.id,
            metric="github_merged_prs",
            parameters={"repositories": repositories},
        )
    assert excinfo.value.details["field"] == "parameters.repositories"


def test_jira_metric_on_a_github_integration_says_which_metrics_fit(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    github = make_github(session, cipher).integration
    kr = make_key_result(session)
    with pytest.raises(ValidationFailed, match="github_merged_prs"):
        _bind(session, kr.id, github.id, metric="jira_issue_count", parameters={"jql": "x"})


def test_field_sum_takes_a_field(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher).integration
    kr = make_key_result(session)
    binding = _bind(
        session,
        kr.id,
        jira.id,
        metric="jira_field_sum",
        parameters={"jql": "project = OPS", "field": "Story Points"},
    )
    assert binding.parameters == {"jql": "project = OPS", "field": "Story Points"}


def test_saving_a_binding_makes_its_integration_due(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher, now=NOW).integration
    jira.next_sync_at = NOW + timedelta(hours=1)
    kr = make_key_result(session)
    _bind(session, kr.id, jira.id, metric="jira_issue_count", parameters={"jql": "x"}, now=NOW)
    assert jira.next_sync_at == NOW


def test_archived_key_result_cannot_be_bound(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher).integration
    kr = make_key_result(session)
    key_results.archive_key_result(session, actor=ACTOR, key_result_id=kr.id)
    with pytest.raises(Conflict, match="archived"):
        _bind(session, kr.id, jira.id, metric="jira_issue_count", parameters={"jql": "x"})


def test_unbinding_deletes_the_binding_and_is_audited(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher).integration
    kr = make_key_result(session)
    _bind(session, kr.id, jira.id, metric="jira_issue_count", parameters={"jql": "x"})
    kr_bindings.delete_binding(session, actor=ACTOR, key_result_id=kr.id)
    assert kr_bindings.get_binding(session, kr.id) is None
    assert audit_actions(session)[-1] == "kr_binding.deleted"
    with pytest.raises(NotFound):
        kr_bindings.delete_binding(session, actor=ACTOR, key_result_id=kr.id)


def test_other_tenants_integration_and_key_result_are_out_of_reach(
    session: Session, tenant: Tenant, cipher: CredentialCipher
) -> None:
    jira = make_jira(session, cipher).integration
    kr = make_key_result(session)
    other = tenants.create_tenant(session, slug="other", name="Other")
    with tenant_context(session, other.id):
        other_jira = make_jira(session, cipher).integration
        other_kr = make_key_result(session)
    with pytest.raises(ValidationFailed) as excinfo:
        _bind(session, kr.id, other_jira.id, metric="jira_issue_count", parameters={"jql": "x"})
    assert excinfo.value.details["field"] == "integration_id"
    with pytest.raises(NotFound):
        _bind(session, other_kr.id, jira.id, metric="jira_issue_count", parameters={"jql": "x"})
    with pytest.raises(NotFound):
        kr_bindings.get_binding(session, other_kr.id)
    assert "ATATT" not in audit_text(session)
