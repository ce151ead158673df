"""A key result bound to a source metric, so its value moves by itself."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from okr_core.db.base import Base, IdMixin, TenantOwned, TimestampMixin


class Metric(StrEnum):
    jira_issue_count = "jira_issue_count"  # count of issues matching the JQL
    jira_done_share = (
        "jira_done_share"  # share (0-100 %) of matching issues in status category Done
    )
    jira_field_sum = "jira_field_sum"  # sum of a numeric field (story points) over matching issues
    github_merged_prs = "github_merged_prs"  # merged pull requests in the repositories
    github_merge_rate = "github_merge_rate"  # merged / closed pull requests (0-100 %)
    github_median_hours_to_merge = "github_median_hours_to_merge"


METRIC_SOURCE = {
    Metric.jira_issue_count: "jira",
    Metric.jira_done_share: "jira",
    Metric.jira_field_sum: "jira",
    Metric.github_merged_prs: "github",
    Metric.github_merge_rate: "github",
    Metric.github_median_hours_to_merge: "github",
}


class KrBinding(IdMixin, TenantOwned, TimestampMixin, Base):
    """``parameters`` holds the metric's inputs: ``{"jql": ...}``, ``{"field": ...}`` or
    ``{"repositories": ["owner/name", ...]}``."""

    __tablename__ = "kr_bindings"

    key_result_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("key_results.id", ondelete="CASCADE"), unique=True
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("integrations.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[Metric] = mapped_column(Enum(Metric, native_enum=False, length=48))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # By default only records inside the key result's period count.
    whole_history: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(500), default="")
