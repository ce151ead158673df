"""Writing values back: one automated check-in per KR per day, upserted, with lineage."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_core.binding_values import BindingSpec
from okr_core.kr_values import SOURCE_REF_LIMIT, lineage, source_ref, write_values
from okr_core.models import AuditEvent, CheckIn, CheckInSource, KeyResult, Metric
from okr_core.tenancy import tenant_context
from tests.okr_core.sources.support import create_key_result, create_tenant

TODAY = datetime.now(UTC).date()


def spec_for(kr: KeyResult, *, jql: str = "project = ENG") -> BindingSpec:
    return BindingSpec(
        binding_id="b-1",
        key_result_id=str(kr.id),
        integration_id="i-1",
        source="jira",
        metric=Metric.jira_issue_count,
        jql=jql,
        field_name=None,
        repositories=(),
        whole_history=False,
        period_start=TODAY - timedelta(days=2),
        period_end=TODAY + timedelta(days=30),
    )


def day_rows(
    kr: KeyResult, values: list[float | None], hashes: list[str] | None = None
) -> pa.Table:
    first = TODAY - timedelta(days=len(values) - 1)
    return pa.Table.from_pylist(
        [
            {
                "binding_id": "b-1",
                "key_result_id": str(kr.id),
                "day": first + timedelta(days=i),
                "value": value,
                "record_count": int(value or 0),
                "record_set_hash": (hashes or [f"h{i}{value}" for i in range(len(values))])[i],
            }
            for i, value in enumerate(values)
        ]
    )


def automated(session: Session, kr: KeyResult) -> list[CheckIn]:
    return list(
        session.scalars(
            select(CheckIn)
            .where(CheckIn.key_result_id == kr.id, CheckIn.source == CheckInSource.automated)
            .order_by(CheckIn.checked_at)
        )
    )


def test_each_day_becomes_one_check_in_and_reruns_never_double(session: Session) -> None:
    tenant_id = create_tenant(session, "values-a")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        spec = spec_for(kr)
        now = datetime.now(UTC)
        written = write_values(
            session, values=day_rows(kr, [3, 5, 8]), specs=[spec], computed_at=now
        )
        assert written.check_ins_written == 3
        history = automated(session, kr)
        assert [c.value for c in history] == [3, 5, 8]
        assert [c.checked_at.date() for c in history] == [
            TODAY - timedelta(days=2),
            TODAY - timedelta(days=1),
            TODAY,
        ]
        assert history[0].checked_at.time().isoformat() == "23:59:59"
        assert history[-1].checked_at <= now
        assert kr.current_value == 8

        again = write_values(session, values=day_rows(kr, [3, 5, 8]), specs=[spec], computed_at=now)
        assert again.check_ins_written == 0
        assert again.key_results[0].unchanged == 3
        assert len(automated(session, kr)) == 3

        later = now + timedelta(seconds=1)
        changed = write_values(
            session, values=day_rows(kr, [3, 5, 9]), specs=[spec], computed_at=later
        )
        assert changed.key_results[0].updated == 1
        assert [c.value for c in automated(session, kr)] == [3, 5, 9]
        assert kr.current_value == 9
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "key_result.synced")
        ).all()
        assert len(audits) == 2  # the first write and the change; the no-op rerun is silent


def test_lineage_names_binding_query_count_hash_and_time(session: Session) -> None:
    tenant_id = create_tenant(session, "values-b")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        spec = spec_for(kr)
        now = datetime.now(UTC)
        write_values(
            session, values=day_rows(kr, [4], hashes=["a" * 32]), specs=[spec], computed_at=now
        )
        [check_in] = automated(session, kr)
        ref = lineage(check_in)
        assert ref == {
            "binding_id": "b-1",
            "metric": "jira_issue_count",
            "query": "project = ENG",
            "record_count": 4,
            "record_set_hash": "a" * 32,
            "computed_at": now.isoformat(timespec="seconds"),
        }


def test_a_long_query_is_shortened_to_fit_the_column() -> None:
    class FakeKr:
        id = "k"

    spec = spec_for(FakeKr(), jql="project = ENG AND " + " OR ".join(["labels = x"] * 100))  # type: ignore[arg-type]
    text = source_ref(spec, record_count=1, record_set_hash="f" * 32, computed_at=datetime.now(UTC))
    assert len(text) <= SOURCE_REF_LIMIT
    document = json.loads(text)
    assert document["query"].endswith("…")
    assert document["record_set_hash"] == "f" * 32


def test_a_day_without_a_value_writes_no_check_in(session: Session) -> None:
    tenant_id = create_tenant(session, "values-c")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        spec = spec_for(kr)
        write_values(
            session, values=day_rows(kr, [None, 50.0]), specs=[spec], computed_at=datetime.now(UTC)
        )
        assert [c.checked_at.date() for c in automated(session, kr)] == [TODAY]
        assert isinstance(TODAY, date)
