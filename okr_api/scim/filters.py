"""SCIM filters to SQL: a whitelist of filterable attributes and a transpiler over it.

scim2-models parses the filter (full RFC 7644 grammar plus Entra's ``emails[...].value eq``)
and binds each attribute path to the resource schema; this module turns the tree into one
SQLAlchemy condition. Only attributes in the whitelist are filterable; anything else is
``invalidFilter``. Comparisons are two-valued (a missing value never makes a condition NULL),
so ``not (...)`` means what the RFC says. Multi-valued attributes (emails, groups, members)
become ``EXISTS`` over their rows, and ``ne`` on them means "no value equals". The same
whitelist says what ``sortBy`` may name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from scim2_models import InvalidFilterException, InvalidValueException, ScimFilter
from scim2_models.path import (
    AttributeBinding,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import Integer, and_, false, func, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

Kind = Literal["string", "uuid", "boolean", "datetime", "constant"]
Column = ColumnElement[Any] | InstrumentedAttribute[Any]


class _Position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent; case-sensitive on every dialect."""

    type = Integer()
    inherit_cache = True
    name = "position"


@compiles(_Position)
def _position_sqlite(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_postgresql(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True)
class Attr:
    """One filterable attribute: its column, SCIM type and case rule."""

    column: Column
    kind: Kind
    case_exact: bool = False
    folded: bool = False  # the column already holds the lower-cased value
    constant: str | None = None  # for kind "constant": the value every row has


@dataclass(frozen=True)
class Collection:
    """A multi-valued attribute stored as rows: ``exists(cond)`` tests the current resource.

    ``sort_keys`` holds, per sub-attribute ``sortBy`` may name, the one value a resource sorts
    by: RFC 7644 §3.4.2.3 takes the primary value's, else the first's, which only a collection
    with ``primary`` and a stored order has. ``unsortable`` says why a collection has none.
    """

    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]]
    attrs: dict[str, Attr] = field(default_factory=dict)  # sub-attribute name, lower case
    sort_keys: dict[str, ColumnElement[Any]] = field(default_factory=dict)  # already folded
    unsortable: str | None = None


@dataclass(frozen=True)
class FilterSchema:
    """What a resource type lets clients filter and sort on, keyed by lower-cased URN."""

    attrs: dict[str, Attr]
    collections: dict[str, Collection]
    names: tuple[str, ...]  # for error messages: short names of the core schema, or full URNs
    urn: str  # the core schema, which qualifies the short names

    def sort_key(self, urn: str, shown: str) -> Column:
        """What ``sortBy=<urn>`` orders by, case-folded where the attribute is not caseExact
        (so the order agrees with ``eq``); ``invalidValue`` naming what is sortable if none.
        ``sortBy`` on a collection itself means its ``value``."""
        key = urn.lower()
        attr = self.attrs.get(key)
        if attr is not None and attr.kind != "constant":
            if attr.kind == "string" and not attr.case_exact and not attr.folded:
                return func.lower(attr.column)
            return attr.column
        if key in self.collections:
            key += ".value"
        head, _, sub = key.rpartition(".")
        collection = self.collections.get(head)
        if collection is not None and sub in collection.sort_keys:
            return collection.sort_keys[sub]
        reason = f": {collection.unsortable}" if collection and collection.unsortable else ""
        raise InvalidValueException(
            detail=f"cannot sort on '{shown}'{reason}; sortable attributes: "
            + ", ".join(self.sortable_names())
        )

    def sortable_names(self) -> list[str]:
        """The names ``sortBy`` accepts, in the order of ``names``; a sortable collection is
        named on its own too, just before its first sortable sub-attribute."""
        shown: list[str] = []
        for name in self.names:
            key = name.lower() if ":" in name else f"{self.urn}:{name}".lower()
            attr = self.attrs.get(key)
            if attr is not None:
                if attr.kind != "constant":
                    shown.append(name)
                continue
            head, _, sub = key.rpartition(".")
            collection = self.collections.get(head)
            if collection is not None and sub in collection.sort_keys:
                whole = name[: -len(sub) - 1]
                shown.extend(n for n in (whole, name) if n not in shown)
        return shown


def _unsupported(what: str, schema: FilterSchema) -> InvalidFilterException:
    return InvalidFilterException(
        detail=f"filtering on '{what}' is not supported; filterable attributes: "
        + ", ".join(schema.names)
    )


def _parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _parse_datetime(value: Any, urn: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidFilterException(
                detail=f"{value!r} is not a dateTime for '{urn}'"
            ) from None
    if parsed.tzinfo is None:
        raise InvalidFilterException(detail=f"{value!r} needs a time zone for '{urn}'")
    return parsed


def compare(attr: Attr, op: CompareOperator, value: Any, urn: str) -> ColumnElement[bool]:
    """A two-valued SQL condition for ``<attr> <op> <value>``."""
    col = attr.column
    if attr.kind == "constant":
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, str):
            raise InvalidFilterException(detail=f"'{urn}' only supports eq and ne")
        same = (attr.constant or "").lower() == value.lower()
        return true() if same == (op is CompareOperator.eq) else false()
    if value is None:
        if op is CompareOperator.eq:
            return col.is_(None)
        if op is CompareOperator.ne:
            return col.is_not(None)
        raise InvalidFilterException(detail=f"'{op.value}' cannot compare '{urn}' with null")
    if attr.kind == "boolean":
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(detail=f"'{op.value}' cannot be applied to '{urn}'")
        if not isinstance(value, bool):
            raise InvalidFilterException(detail=f"'{urn}' is compared with true or false")
        return col.is_(value) if op is CompareOperator.eq else col.is_not(value)
    if attr.kind == "uuid":
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(detail=f"'{urn}' supports eq, ne and pr only")
        parsed = _parse_uuid(value)
        if op is CompareOperator.eq:
            return col == parsed if parsed is not None else false()
        return or_(col.is_(None), col != parsed) if parsed is not None else true()
    if attr.kind == "datetime":
        if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            raise InvalidFilterException(detail=f"'{op.value}' cannot be applied to '{urn}'")
        operand: Any = _parse_datetime(value, urn)
        target: Column = col
    else:
        if not isinstance(value, str):
            raise InvalidFilterException(detail=f"'{urn}' is compared with a string")
        if attr.case_exact:
            operand, target = value, col
        else:
            operand = value.lower()
            target = col if attr.folded else func.lower(col)
    present = col.is_not(None)
    if op is CompareOperator.eq:
        return and_(present, target == operand)
    if op is CompareOperator.ne:
        return or_(col.is_(None), target != operand)
    if op is CompareOperator.co:
        return and_(present, _Position(target, literal(operand)) > 0)
    if op is CompareOperator.sw:
        return and_(present, func.substr(target, 1, len(operand)) == operand)
    if op is CompareOperator.ew:
        start = func.length(target) - len(operand) + 1
        return and_(
            present, func.length(target) >= len(operand), func.substr(target, start) == operand
        )
    if op is CompareOperator.gt:
        return and_(present, target > operand)
    if op is CompareOperator.ge:
        return and_(present, target >= operand)
    if op is CompareOperator.lt:
        return and_(present, target < operand)
    return and_(present, target <= operand)


def present(attr: Attr) -> ColumnElement[bool]:
    if attr.kind == "constant":
        return true()
    if attr.kind == "string":
        return and_(attr.column.is_not(None), attr.column != "")
    return attr.column.is_not(None)


class SqlFilter(FilterVisitor[ColumnElement[bool]]):
    """Transpile a bound, validated filter into a condition on the resource's tables."""

    def __init__(self, scim_filter: ScimFilter[Any], schema: FilterSchema) -> None:
        self.filter = scim_filter
        self.schema = schema

    def _binding(
        self, node: Comparison | Present | ValuePath, *, comparison: bool
    ) -> AttributeBinding:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(node.attr_path, strict=True)
        if binding is None:  # pragma: no cover - the filter is always bound
            raise _unsupported(str(node.attr_path), self.schema)
        return binding

    def _lookup(self, urn: str) -> tuple[Attr, Collection | None]:
        key = urn.lower()
        if key in self.schema.attrs:
            return self.schema.attrs[key], None
        head, _, sub = key.rpartition(".")
        collection = self.schema.collections.get(head)
        if collection is not None and sub in collection.attrs:
            return collection.attrs[sub], collection
        raise _unsupported(urn, self.schema)

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        binding = self._binding(node, comparison=True)
        attr, collection = self._lookup(binding.urn)
        if collection is None:
            return compare(attr, node.op, node.value, binding.urn)
        if node.op is CompareOperator.ne:
            return not_(
                collection.exists(compare(attr, CompareOperator.eq, node.value, binding.urn))
            )
        return collection.exists(compare(attr, node.op, node.value, binding.urn))

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        binding = self._binding(node, comparison=False)
        collection = self.schema.collections.get(binding.urn.lower())
        if collection is not None:
            return collection.exists(true())
        attr, owner = self._lookup(binding.urn)
        return owner.exists(present(attr)) if owner is not None else present(attr)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        binding = self._binding(node, comparison=False)
        collection = self.schema.collections.get(binding.urn.lower())
        if collection is None:
            raise _unsupported(binding.urn, self.schema)
        inner = RowFilter(collection, prefix=binding.urn, schema=self.schema)
        return collection.exists(inner.visit(node.val_filter))


class RowFilter(FilterVisitor[ColumnElement[bool]]):
    """The filter inside ``attr[...]``: sub-attributes of one row of a collection."""

    def __init__(self, collection: Collection, *, prefix: str, schema: FilterSchema) -> None:
        self.collection = collection
        self.prefix = prefix
        self.schema = schema

    def _attr(self, name: str) -> tuple[Attr, str]:
        urn = f"{self.prefix}.{name}"
        attr = self.collection.attrs.get(name.lower())
        if attr is None:
            raise _unsupported(urn, self.schema)
        return attr, urn

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        if node.attr_path.sub_attr or node.attr_path.uri:
            raise _unsupported(str(node.attr_path), self.schema)
        attr, urn = self._attr(node.attr_path.attr)
        return compare(attr, node.op, node.value, urn)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        if node.attr_path.sub_attr or node.attr_path.uri:
            raise _unsupported(str(node.attr_path), self.schema)
        attr, _ = self._attr(node.attr_path.attr)
        return present(attr)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="value filters cannot be nested")


def parse(model: type[Any], expression: str) -> ScimFilter[Any]:
    """Parse and validate a filter for one resource type (unknown attributes refused)."""
    scim_filter: ScimFilter[Any] = ScimFilter[model](expression)  # type: ignore[valid-type]
    scim_filter._validate_semantics(strict=True)
    return scim_filter


def to_sql(model: type[Any], expression: str, schema: FilterSchema) -> ColumnElement[bool]:
    scim_filter = parse(model, expression)
    return SqlFilter(scim_filter, schema).visit(scim_filter.ast)


def rows_matching(
    collection: Collection, node: FilterNode, *, prefix: str, schema: FilterSchema
) -> ColumnElement[bool]:
    """A condition on one collection row, for PATCH paths such as ``members[value eq "x"]``."""
    return RowFilter(collection, prefix=prefix, schema=schema).visit(node)
