"""Jira record shapes: what a search page's issue becomes when it lands in the warehouse.

Landed columns are the few the metrics need, typed; nothing else of the issue is kept (no
descriptions, no comments, no people), so the warehouse holds as little as the KR values need,
and searches ask Jira for exactly those fields (:data:`BASE_FIELDS`): the project key is read
off the issue key (``ENG-12``), so ``project`` is not requested. Numeric fields a binding sums
(story points) land in ``numeric_fields``, keyed both by the name the binding used and by the
Jira field id.

A search page is decoded straight into typed structs (:func:`page_decoder`, msgspec): fields
that are not landed are skipped by the decoder instead of becoming Python dicts, and
:class:`IssueColumns` gathers pages column by column, so a whole search becomes one Arrow table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

# The issue fields every search asks for (ids, not display names, so no translation is needed).
BASE_FIELDS = (
    "summary",
    "status",
    "created",
    "updated",
    "resolutiondate",
    "statuscategorychangedate",
)

TIMESTAMP = pa.timestamp("us", tz="UTC")
NUMERIC_FIELDS_TYPE = pa.map_(pa.string(), pa.float64())

ISSUE_SCHEMA = pa.schema(
    [
        pa.field("integration_id", pa.string(), nullable=False),
        pa.field("issue_id", pa.string(), nullable=False),
        pa.field("issue_key", pa.string()),
        pa.field("project_key", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("status_name", pa.string()),
        pa.field("status_category_key", pa.string()),
        pa.field("created_at", TIMESTAMP),
        pa.field("updated_at", TIMESTAMP),
        pa.field("resolved_at", TIMESTAMP),
        pa.field("status_category_changed_at", TIMESTAMP),
        pa.field("numeric_fields", NUMERIC_FIELDS_TYPE),
        pa.field("landed_at", TIMESTAMP),
    ]
)

# One row per (binding, issue) currently matching the binding's JQL: the membership snapshot.
BINDING_ISSUE_SCHEMA = pa.schema(
    [
        pa.field("integration_id", pa.string(), nullable=False),
        pa.field("binding_id", pa.string(), nullable=False),
        pa.field("scope_hash", pa.string(), nullable=False),
        pa.field("issue_id", pa.string(), nullable=False),
        pa.field("snapshot_at", TIMESTAMP),
    ]
)


def parse_jira_time(value: Any) -> datetime | None:
    """``2025-01-02T04:00:00.000+0000`` (Jira's format) or ISO 8601, as an aware UTC datetime."""
    if not value:
        return None
    text = str(value)
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00
    text = text.replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


# -- decoding a search page ------------------------------------------------------------------


class _Category(msgspec.Struct, gc=False):
    key: str | None = None


class _Status(msgspec.Struct, gc=False):
    name: str | None = None
    statusCategory: _Category | None = None  # noqa: N815 - Jira's name


_TIME_FIELDS = ("created", "updated", "resolutiondate", "statuscategorychangedate")


@functools.lru_cache(maxsize=64)
def page_decoder(numeric_ids: tuple[str, ...] = ()) -> msgspec.json.Decoder[Any]:
    """A decoder of ``search/jql`` pages that keeps the landed fields only (and the numeric
    fields with these ids, as whatever JSON value Jira sends); anything else is skipped.

    A page that is not JSON or not shaped like a search page raises ``msgspec.DecodeError``
    (a ``ValueError``)."""
    fields: list[tuple[str, Any, Any]] = [
        ("summary", str | None, None),
        ("status", _Status | None, None),
        *((name, str | None, None) for name in _TIME_FIELDS),
        *((f"n{index}", Any, None) for index in range(len(numeric_ids))),
    ]
    rename = {f"n{index}": field_id for index, field_id in enumerate(numeric_ids)}
    # gc=False: the structs hold strings and other structs only (no cycles), so the garbage
    # collector need not track the hundreds of thousands a full search decodes.
    issue_fields = msgspec.defstruct("IssueFields", fields, rename=rename, gc=False)
    issue = msgspec.defstruct(
        "Issue",
        [("id", str), ("key", str | None, None), ("fields", issue_fields | None, None)],
        gc=False,
    )
    issue_list: Any = list.__class_getitem__(issue)  # list[issue], built at run time
    page = msgspec.defstruct(
        "SearchPage",
        [
            ("issues", issue_list),
            ("nextPageToken", str | None, None),
            ("isLast", bool | None, None),
        ],
    )
    return msgspec.json.Decoder(page)


def next_token(page: Any) -> str | None:
    """The token of the page after ``page`` (None on the last page)."""
    token = page.nextPageToken
    if not token or page.isLast is True:
        return None
    return str(token)


class IssueColumns:
    """Decoded issues gathered column by column, made into one ``ISSUE_SCHEMA`` table at the
    end (one Arrow array per column for the whole search, not per page).

    ``numeric_fields`` maps the names bindings use to Jira field ids (``{"Story point
    estimate": "customfield_10016"}``); each value lands under both keys. Pages must come from
    ``page_decoder(numeric_ids(numeric_fields))``.
    """

    def __init__(self, numeric_fields: Mapping[str, str] | None = None) -> None:
        self.numeric_fields = dict(numeric_fields or {})
        self._field_ids = numeric_ids(self.numeric_fields)
        self._chunks: list[pa.Table] = []
        self._reset()

    def _reset(self) -> None:
        self.ids: list[str] = []
        self.keys: list[str | None] = []
        self.summaries: list[str | None] = []
        self.status_names: list[str | None] = []
        self.category_keys: list[str | None] = []
        self.times: dict[str, list[str | None]] = {name: [] for name in _TIME_FIELDS}
        self.numbers: list[list[Any]] = [[] for _ in self._field_ids]

    def __len__(self) -> int:
        return len(self.ids) + sum(int(chunk.num_rows) for chunk in self._chunks)

    @property
    def pending(self) -> int:
        """Rows added since the last :meth:`chunk`."""
        return len(self.ids)

    def chunk(self, *, integration_id: str, landed_at: datetime) -> None:
        """Convert the rows gathered so far to Arrow now (a caller waiting for the next page
        can do it then rather than all at the end)."""
        if self.ids:
            self._chunks.append(self._build(integration_id, landed_at))
            self._reset()

    def add(self, issues: Sequence[Any]) -> None:
        """Issues of one decoded page."""
        empty = _EMPTY
        fields = [i.fields or empty for i in issues]
        self.ids += [i.id for i in issues]
        self.keys += [i.key for i in issues]
        self.summaries += [f.summary for f in fields]
        statuses = [f.status for f in fields]
        self.status_names += [None if s is None else s.name for s in statuses]
        self.category_keys += [
            None if s is None or s.statusCategory is None else s.statusCategory.key
            for s in statuses
        ]
        for name, values in self.times.items():
            values += [getattr(f, name) for f in fields]
        for index, values in enumerate(self.numbers):
            attr = f"n{index}"
            values += [getattr(f, attr, None) for f in fields]

    def table(self, *, integration_id: str, landed_at: datetime) -> pa.Table:
        """Every row added, as one table."""
        last = self._build(integration_id, landed_at)
        if not self._chunks:
            return last
        return pa.concat_tables([*self._chunks, last])

    def _build(self, integration_id: str, landed_at: datetime) -> pa.Table:
        count = len(self.ids)
        keys = pa.array(self.keys, pa.string())
        columns = [
            pa.repeat(pa.scalar(integration_id, pa.string()), count),
            pa.array(self.ids, pa.string()),
            keys,
            pc.replace_substring_regex(keys, pattern=r"-[0-9]+$", replacement=""),
            pa.array(self.summaries, pa.string()),
            pa.array(self.status_names, pa.string()),
            pa.array(self.category_keys, pa.string()),
            *(_timestamps(self.times[name]) for name in _TIME_FIELDS),
            self._numeric_column(count),
            pa.repeat(pa.scalar(landed_at, TIMESTAMP), count),
        ]
        return pa.Table.from_arrays(columns, schema=ISSUE_SCHEMA)

    def _numeric_column(self, count: int) -> pa.Array:
        """One map per row: ``{binding's name: value, field id: value}``, keys sorted."""
        entries: list[tuple[str, int]] = []  # (key, index into self.numbers)
        for index, field_id in enumerate(self._field_ids):
            names = {field_id, *(n for n, f in self.numeric_fields.items() if f == field_id)}
            entries += [(name, index) for name in names]
        entries.sort()
        offsets = [0]
        keys: list[str] = []
        values: list[float] = []
        if entries:
            parsed = [[_number(v) for v in column] for column in self.numbers]
            for row in range(count):
                for name, index in entries:
                    value = parsed[index][row]
                    if value is not None:
                        keys.append(name)
                        values.append(value)
                offsets.append(len(keys))
        else:
            offsets *= count + 1
        return pa.MapArray.from_arrays(
            pa.array(offsets, pa.int32()),
            pa.array(keys, pa.string()),
            pa.array(values, pa.float64()),
            type=NUMERIC_FIELDS_TYPE,
        )


def numeric_ids(numeric_fields: Mapping[str, str]) -> tuple[str, ...]:
    """The distinct field ids of ``numeric_fields``, sorted (the decoder's cache key)."""
    return tuple(sorted(set(numeric_fields.values())))


_EMPTY = page_decoder().decode(b'{"issues":[{"id":"0","fields":{}}]}').issues[0].fields


def _timestamps(values: list[Any]) -> pa.Array:
    """Jira timestamps parsed in bulk by Arrow (``...T04:00:00.000+0000`` with any offset);
    values Arrow cannot read fall back to :func:`parse_jira_time` one by one."""
    raw = pa.array(values, pa.string())
    try:
        return raw.cast(TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([parse_jira_time(v) for v in values], TIMESTAMP)


def max_updated(table: pa.Table) -> datetime | None:
    """The newest ``updated_at`` of landed rows (the watermark's candidate)."""
    if table.num_rows == 0:
        return None
    value = pc.max(table.column("updated_at")).as_py()
    return value if isinstance(value, datetime) else None
