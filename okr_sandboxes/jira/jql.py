"""A JQL subset: enough for realistic key-result bindings, with Jira's error messages.

Supported (field and keyword names are case-insensitive):

- fields: ``project``, ``status``, ``statusCategory``, ``issuetype``/``type``, ``labels``,
  ``key``/``issuekey``/``id``, ``summary``/``description``/``text`` (``~``), ``created``,
  ``updated``, ``resolved``/``resolutiondate``, ``statusCategoryChangedDate``, ``resolution``
  (``Unresolved`` = EMPTY), ``priority``, ``assignee`` (``currentUser()``), and the story-points
  field as ``"Story point estimate"`` or ``cf[10016]``;
- operators ``= != > >= < <= ~ !~ IN NOT IN IS IS NOT``; ``AND``/``&&``, ``OR``/``||``, ``NOT``,
  parentheses; values quoted or bare, lists ``(a, b)``, ``EMPTY``/``NULL``;
- dates as ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd HH:mm"``, ``yyyy/MM/dd``, ``yyyy-MM-dd``
  (the user's zone is UTC), epoch milliseconds, periods (``-5m``, ``"-1w 2d"``), and
  ``now()``, ``startOfDay()``/``endOfDay()`` and the week, month and year variants with an
  optional offset argument (``startOfDay(-1d)``);
- ``ORDER BY field [ASC|DESC], ...``: date fields sort newest first unless told otherwise,
  empty values sort as the largest; without ORDER BY results come ``key DESC``. Every order ends
  with the issue id, so paging is stable.

Errors raise :class:`JQLError` with the messages Jira puts in ``errorMessages``. Syntax errors
report a position (``(line 1, character 9)``); semantic ones (unknown field, value, function,
operator, bad date) are all collected, as Jira does.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from okr_sandboxes.jira.data import (
    CATEGORIES,
    DONE,
    ISSUE_TYPES,
    PRIORITIES,
    STATUSES,
    STORY_POINTS_NAME,
    Issue,
    Project,
    User,
)

OPERATORS_HELP = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', "
    "'IS' and 'IS NOT'."
)
DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
    "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


class JQLError(Exception):
    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


# -- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, op, (, ), ",", and, or, eof
    text: str
    pos: int  # offset in the query


_OPS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
_WORD_END = set(" \t\r\n()=,!<>~\"'&|")


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {column})"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "!" and text[i + 1 : i + 2] not in ("=", "~"):
            tokens.append(Token("word", "NOT", i))  # '!' is NOT
            i += 1
            continue
        if ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
            continue
        if ch in "&|":
            double = text[i : i + 2] in ("&&", "||")
            tokens.append(Token("and" if ch == "&" else "or", ch, i))
            i += 2 if double else 1
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        if ch in "\"'":
            j, out = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise JQLError(
                    [
                        f"Error in the JQL Query: The quoted string '{text[i + 1 :]}' has not "
                        f"been completed. {_where(text, i)}"
                    ]
                )
            tokens.append(Token("string", "".join(out), i))
            i = j + 1
            continue
        j = i
        while j < n and text[j] not in _WORD_END:
            j += 1
        word = text[i:j]
        lowered = word.lower()
        kind = lowered if lowered in ("and", "or") else "word"
        tokens.append(Token(kind, word, i))
        i = j
    tokens.append(Token("eof", "", n))
    return tokens


# -- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool
    pos: int


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Empty:
    pos: int


Value = Literal | Function | Empty


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # =, !=, >, >=, <, <=, ~, !~, IN, NOT IN, IS, IS NOT
    values: tuple[Value, ...]  # one value, or the items of a list for IN / NOT IN
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class SortItem:
    field: str
    direction: str | None
    pos: int


@dataclass(frozen=True)
class Parsed:
    where: Node | None
    order: tuple[SortItem, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def fail(self, expected: str, suffix: str = "") -> JQLError:
        tok = self.tok
        if tok.kind == "eof":
            return JQLError(
                [
                    f"Error in the JQL Query: Expecting {expected} before the end of the "
                    f"query.{suffix}"
                ]
            )
        return JQLError(
            [
                f"Error in the JQL Query: Expecting {expected} but got '{tok.text}'.{suffix} "
                f"{_where(self.text, tok.pos)}"
            ]
        )

    def parse(self) -> Parsed:
        where: Node | None = None
        if self.tok.kind != "eof" and not self._is_word("order"):
            where = self.parse_or()
        order: list[SortItem] = []
        if self._is_word("order"):
            self.i += 1
            if not self._is_word("by"):
                raise self.fail("'BY'")
            self.i += 1
            order.append(self.parse_sort())
            while self.tok.kind == ",":
                self.i += 1
                order.append(self.parse_sort())
        if self.tok.kind != "eof":
            expected = "either 'OR' or 'AND'" if where is not None else "a field name"
            raise self.fail(expected)
        return Parsed(where, tuple(order))

    def parse_sort(self) -> SortItem:
        tok = self.tok
        if tok.kind not in ("word", "string") or (
            tok.kind == "word" and tok.text.lower() in KEYWORDS
        ):
            raise self.fail("a field name")
        self.i += 1
        direction = None
        if self._is_word("asc", "desc"):
            direction = self.tok.text.upper()
            self.i += 1
        return SortItem(tok.text, direction, tok.pos)

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.tok.kind == "or":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.tok.kind == "and":
            self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def parse_not(self) -> Node:
        if self._is_word("not"):
            self.i += 1
            return Not(self.parse_not())
        if self.tok.kind == "(":
            self.i += 1
            node = self.parse_or()
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.i += 1
            return node
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        tok = self.tok
        if tok.kind not in ("word", "string") or (
            tok.kind == "word" and tok.text.lower() in KEYWORDS
        ):
            raise self.fail("a field name")
        self.i += 1
        op = self.parse_operator()
        if op in ("IN", "NOT IN"):
            values = self.parse_list()
        elif op in ("IS", "IS NOT"):
            if not self._is_word("empty", "null"):
                raise self.fail("'EMPTY' or 'NULL'")
            values = (Empty(self.tok.pos),)
            self.i += 1
        else:
            values = (self.parse_value(),)
        return Clause(tok.text, op, values, tok.pos)

    def parse_operator(self) -> str:
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            return tok.text
        if self._is_word("in"):
            self.i += 1
            return "IN"
        if self._is_word("is"):
            self.i += 1
            if self._is_word("not"):
                self.i += 1
                return "IS NOT"
            return "IS"
        if self._is_word("not"):
            self.i += 1
            if self._is_word("in"):
                self.i += 1
                return "NOT IN"
        raise self.fail("operator", " " + OPERATORS_HELP)

    def parse_list(self) -> tuple[Value, ...]:
        if self.tok.kind != "(":
            if self.tok.kind == "word" and self.tok.text.lower() not in KEYWORDS:
                value = self.parse_value()
                if isinstance(value, Function):
                    return (value,)
            raise self.fail("'('")
        self.i += 1
        values = [self.parse_value()]
        while self.tok.kind == ",":
            self.i += 1
            values.append(self.parse_value())
        if self.tok.kind != ")":
            raise self.fail("',' or ')'")
        self.i += 1
        return tuple(values)

    def parse_value(self) -> Value:
        tok = self.tok
        if tok.kind == "string":
            self.i += 1
            return Literal(tok.text, True, tok.pos)
        if tok.kind == "word" and tok.text.lower() in ("empty", "null"):
            self.i += 1
            return Empty(tok.pos)
        if tok.kind == "word" and tok.text.lower() not in KEYWORDS:
            self.i += 1
            if self.tok.kind == "(":
                self.i += 1
                args: list[str] = []
                while self.tok.kind in ("word", "string"):
                    args.append(self.tok.text)
                    self.i += 1
                    if self.tok.kind == ",":
                        self.i += 1
                if self.tok.kind != ")":
                    raise self.fail("')'")
                self.i += 1
                return Function(tok.text, tuple(args), tok.pos)
            return Literal(tok.text, False, tok.pos)
        raise self.fail("either a value, list or function")


def parse(text: str) -> Parsed:
    return _Parser(text).parse()


# -- meaning -----------------------------------------------------------------------------------


class Catalogue(Protocol):
    """What the compiler needs to know about a site's data."""

    def project(self, value: str) -> Project | None: ...
    def find(self, id_or_key: str) -> Issue | None: ...

    @property
    def users(self) -> list[User]: ...


Predicate = Callable[[Issue], bool]
SortKey = Callable[[Issue], Any]


@dataclass(frozen=True)
class Query:
    text: str
    predicate: Predicate | None  # None: no restriction
    order: tuple[tuple[SortKey, bool], ...]  # (key, descending), most significant first
    bounded: bool
    uses_now: bool  # relative dates or date functions: the result depends on the clock
    # The restriction without source positions: two texts with the same meaning (extra
    # parentheses, another ORDER BY) share it, and so share the sandbox's match-set cache.
    shape: Hashable = None
    # A lower bound on ``updated`` that every match satisfies (a top-level ``updated >= X``
    # or ``updated > X``): the sandbox then looks at recently updated issues only.
    updated_from: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str  # as Jira names it in messages
    kind: str
    ops: frozenset[str]


EQ = frozenset({"=", "!=", "IN", "NOT IN"})
EQ_EMPTY = EQ | {"IS", "IS NOT"}
ORDERED = EQ_EMPTY | {">", ">=", "<", "<="}
TEXT = frozenset({"~", "!~", "IS", "IS NOT"})

FIELDS: dict[str, FieldSpec] = {
    "project": FieldSpec("project", "project", EQ),
    "status": FieldSpec("status", "status", EQ),
    "statuscategory": FieldSpec("statusCategory", "category", EQ),
    "issuetype": FieldSpec("issuetype", "issuetype", EQ),
    "type": FieldSpec("issuetype", "issuetype", EQ),
    "labels": FieldSpec("labels", "labels", EQ_EMPTY),
    "key": FieldSpec("key", "key", EQ),
    "issuekey": FieldSpec("key", "key", EQ),
    "issue": FieldSpec("key", "key", EQ),
    "id": FieldSpec("key", "key", EQ),
    "summary": FieldSpec("summary", "summary", TEXT),
    "description": FieldSpec("description", "description", TEXT),
    "text": FieldSpec("text", "text", frozenset({"~", "!~"})),
    "created": FieldSpec("created", "created", ORDERED),
    "createddate": FieldSpec("created", "created", ORDERED),
    "updated": FieldSpec("updated", "updated", ORDERED),
    "updateddate": FieldSpec("updated", "updated", ORDERED),
    "resolved": FieldSpec("resolved", "resolved", ORDERED),
    "resolutiondate": FieldSpec("resolved", "resolved", ORDERED),
    "statuscategorychangeddate": FieldSpec("statusCategoryChangedDate", "statuschanged", ORDERED),
    "resolution": FieldSpec("resolution", "resolution", EQ_EMPTY),
    "priority": FieldSpec("priority", "priority", EQ_EMPTY),
    "assignee": FieldSpec("assignee", "assignee", EQ_EMPTY),
    "cf[10016]": FieldSpec(STORY_POINTS_NAME, "points", ORDERED),
    STORY_POINTS_NAME.lower(): FieldSpec(STORY_POINTS_NAME, "points", ORDERED),
}
DATE_KINDS = {"created", "updated", "resolved", "statuschanged"}
DATE_GETTERS: dict[str, Callable[[Issue], int | None]] = {
    "created": lambda i: i.created,
    "updated": lambda i: i.updated,
    "resolved": lambda i: i.resolved,
    "statuschanged": lambda i: i.status_changed,
}
SORT_KEYS: dict[str, SortKey] = {
    "project": lambda i: (i.project.key, i.number),
    "key": lambda i: (i.project.key, i.number),
    "status": lambda i: i.status.rank,
    "category": lambda i: i.status.category.id,
    "issuetype": lambda i: i.issuetype.name,
    "summary": lambda i: i.summary.lower(),
    "priority": lambda i: i.priority.rank,
    "resolution": lambda i: None if i.resolved is None else "Done",
    "assignee": lambda i: None if i.assignee is None else i.assignee.display_name.lower(),
    "points": lambda i: i.points,
    **DATE_GETTERS,
}
_ABSOLUTE = (
    ("%Y/%m/%d %H:%M", re.compile(r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$")),
    ("%Y-%m-%d %H:%M", re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}$")),
    ("%Y/%m/%d", re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$")),
    ("%Y-%m-%d", re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")),
)
_PERIOD = re.compile(r"^\s*([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$")
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhmMy])")
_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
DATE_FUNCTIONS = {
    "now",
    "startofday",
    "endofday",
    "startofweek",
    "endofweek",
    "startofmonth",
    "endofmonth",
    "startofyear",
    "endofyear",
}


def _period_ms(text: str) -> int | None:
    match = _PERIOD.match(text)
    if match is None:
        return None
    total = sum(int(n) * _UNIT_MS[u] for n, u in _PERIOD_PART.findall(match.group(2)))
    return -total if match.group(1) == "-" else total


def _shift(moment: datetime, offset: str) -> datetime | None:
    match = re.fullmatch(r"\s*([-+]?)\s*((?:\d+\s*[wdhmMy]\s*)+)", offset)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    for number, unit in _PERIOD_PART.findall(match.group(2)):
        amount = sign * int(number)
        if unit == "y":
            moment = moment.replace(year=moment.year + amount)
        elif unit == "M":
            month = moment.month - 1 + amount
            year = moment.year + month // 12
            month = month % 12 + 1
            day = min(moment.day, calendar.monthrange(year, month)[1])
            moment = moment.replace(year=year, month=month, day=day)
        else:
            moment += timedelta(milliseconds=amount * _UNIT_MS[unit])
    return moment


def _date_function(name: str, args: tuple[str, ...], now: int) -> int | None:
    moment = datetime.fromtimestamp(now / 1000, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    name = name.lower()
    if name == "now":
        result = moment
    elif name.endswith("day"):
        result = day
    elif name.endswith("week"):  # weeks start on Sunday (en_US)
        result = day - timedelta(days=(day.weekday() + 1) % 7)
    elif name.endswith("month"):
        result = day.replace(day=1)
    else:
        result = day.replace(month=1, day=1)
    if name.startswith("end"):
        unit = {"day": "1d", "week": "1w", "month": "1M", "year": "1y"}[name[5:]]
        following = _shift(result, unit)
        assert following is not None
        result = following - timedelta(milliseconds=1)
    if args:
        shifted = _shift(result, args[0])
        if shifted is None:
            return None
        result = shifted
    return int(result.timestamp() * 1000)


class _Compiler:
    def __init__(self, catalogue: Catalogue, now: int, current_user: User | None) -> None:
        self.catalogue = catalogue
        self.now = now
        self.current_user = current_user
        self.errors: list[str] = []
        self.uses_now = False

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.node(item) for item in node.items]
            if node.op == "AND":
                return lambda issue: all(p(issue) for p in parts)
            return lambda issue: any(p(issue) for p in parts)
        if isinstance(node, Not):
            inner = self.node(node.item)
            return lambda issue: not inner(issue)
        return self.clause(node)

    def clause(self, clause: Clause) -> Predicate:
        spec = FIELDS.get(clause.field.lower())
        if spec is None:
            self.errors.append(
                f"Field '{clause.field}' does not exist or you do not have permission to view it."
            )
            return _never
        if clause.op not in spec.ops:
            self.errors.append(
                f"The operator '{clause.op}' is not supported by the '{clause.field}' field."
            )
            return _never
        if clause.op in ("IS", "IS NOT"):
            return self.emptiness(spec, clause.op == "IS")
        if spec.kind in DATE_KINDS:
            return self.dates(spec, clause)
        if spec.kind == "points":
            return self.numbers(spec, clause)
        if spec.kind in ("summary", "description", "text"):
            return self.text(spec, clause)
        return self.equality(spec, clause)

    # emptiness -----------------------------------------------------------------------------

    def emptiness(self, spec: FieldSpec, empty: bool) -> Predicate:
        getter: Callable[[Issue], Any] = {
            "labels": lambda i: i.labels or None,
            "resolution": lambda i: i.resolved,
            "priority": lambda i: i.priority,
            "assignee": lambda i: i.assignee,
            "points": lambda i: i.points,
            "summary": lambda i: i.summary or None,
            "description": lambda i: i.description or None,
            **DATE_GETTERS,
        }[spec.kind]
        if empty:
            return lambda issue: getter(issue) is None
        return lambda issue: getter(issue) is not None

    # equality fields -------------------------------------------------------------------------

    def equality(self, spec: FieldSpec, clause: Clause) -> Predicate:
        wanted: set[Any] = set()
        match_empty = False
        for value in clause.values:
            if isinstance(value, Empty):
                match_empty = True
                continue
            if isinstance(value, Function):
                resolved = self.function_value(spec, value)
                if resolved is not None:
                    wanted.add(resolved)
                continue
            resolved = self.resolve(spec, value.text)
            if resolved is _UNRESOLVED:
                match_empty = True
            elif resolved is not None:
                wanted.add(resolved)
        getter = _EQ_GETTERS[spec.kind]
        negate = clause.op in ("!=", "NOT IN")
        if spec.kind == "labels":
            if negate:
                return lambda issue: bool(issue.labels) and not wanted.intersection(issue.labels)
            return lambda issue: (
                bool(wanted.intersection(issue.labels)) or (match_empty and not issue.labels)
            )
        if negate:
            return lambda issue: (
                (v := getter(issue)) is not None
                and v not in wanted
                and not (match_empty and v is None)
            )
        return lambda issue: (v := getter(issue)) in wanted or (match_empty and v is None)

    def function_value(self, spec: FieldSpec, value: Function) -> Any:
        name = value.name.lower()
        if spec.kind == "assignee" and name == "currentuser":
            return None if self.current_user is None else self.current_user.account_id
        if name in DATE_FUNCTIONS or name == "currentuser":
            self.errors.append(
                f"A value provided by the function '{value.name}' is invalid for the field "
                f"'{spec.name}'."
            )
        else:
            self.errors.append(
                f"Unable to find JQL function '{value.name}({','.join(value.args)})'."
            )
        return None

    def resolve(self, spec: FieldSpec, text: str) -> Any:
        needle = text.strip().lower()
        found: Any = None
        if spec.kind == "project":
            project = self.catalogue.project(text)
            found = None if project is None else project.id
        elif spec.kind == "status":
            found = next((s.id for s in STATUSES if needle in (s.name.lower(), s.id)), None)
        elif spec.kind == "category":
            found = next(
                (c.id for c in CATEGORIES if needle in (c.name.lower(), c.key, str(c.id))), None
            )
        elif spec.kind == "issuetype":
            found = next((t.id for t in ISSUE_TYPES if needle in (t.name.lower(), t.id)), None)
        elif spec.kind == "priority":
            found = next((p.id for p in PRIORITIES if needle in (p.name.lower(), p.id)), None)
        elif spec.kind == "resolution":
            if needle == "unresolved":
                return _UNRESOLVED
            found = "Done" if needle in ("done", "10000") else None
        elif spec.kind == "assignee":
            found = next(
                (
                    u.account_id
                    for u in self.catalogue.users
                    if needle in (u.account_id.lower(), u.display_name.lower(), u.email.lower())
                ),
                None,
            )
        elif spec.kind == "labels":
            return text
        elif spec.kind == "key":
            issue = self.catalogue.find(text)
            if issue is None:
                if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+|\d+", text.strip()):
                    self.errors.append(
                        f"An issue with key '{text}' does not exist for field "
                        f"'{clause_name(spec)}'."
                    )
                else:
                    self.errors.append(
                        f"The issue key '{text}' for field '{clause_name(spec)}' is invalid."
                    )
                return None
            return issue.id
        if found is None:
            self.errors.append(f"The value '{text}' does not exist for the field '{spec.name}'.")
        return found

    # dates and numbers -----------------------------------------------------------------------

    def date_value(self, spec: FieldSpec, value: Value) -> int | None:
        if isinstance(value, Function):
            if value.name.lower() not in DATE_FUNCTIONS:
                self.errors.append(
                    f"Unable to find JQL function '{value.name}({','.join(value.args)})'."
                )
                return None
            self.uses_now = True
            result = _date_function(value.name, value.args, self.now)
            if result is None:
                self.errors.append(
                    f"Function '{value.name}' received an invalid argument "
                    f"'{','.join(value.args)}'."
                )
            return result
        assert isinstance(value, Literal)
        text = value.text.strip()
        if text.isdigit() and not value.quoted:
            return int(text)
        for fmt, pattern in _ABSOLUTE:
            if pattern.match(text):
                try:
                    moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
                except ValueError:
                    break
                return int(moment.timestamp() * 1000)
        period = _period_ms(text)
        if period is not None:
            self.uses_now = True
            return self.now + period
        self.errors.append(
            f"Date value '{value.text}' for field '{spec.name}' is invalid. {DATE_HELP}"
        )
        return None

    def dates(self, spec: FieldSpec, clause: Clause) -> Predicate:
        getter = DATE_GETTERS[spec.kind]
        values = [self.date_value(spec, v) for v in clause.values if not isinstance(v, Empty)]
        points = [v for v in values if v is not None]
        if len(points) != len(values) or not points:
            return _never
        return _compare(getter, clause.op, points, minute=True)

    def numbers(self, spec: FieldSpec, clause: Clause) -> Predicate:
        numbers: list[float] = []
        for value in clause.values:
            if isinstance(value, Empty):
                continue
            if isinstance(value, Function):
                self.errors.append(
                    f"A value provided by the function '{value.name}' is invalid for the field "
                    f"'{spec.name}'."
                )
                continue
            try:
                numbers.append(float(value.text))
            except ValueError:
                self.errors.append(
                    f"The value '{value.text}' for field '{spec.name}' is invalid. "
                    "Please specify a number."
                )
        if not numbers:
            return _never
        return _compare(lambda i: i.points, clause.op, numbers, minute=False)

    def text(self, spec: FieldSpec, clause: Clause) -> Predicate:
        value = clause.values[0]
        if not isinstance(value, Literal):
            self.errors.append(
                f"The operator '{clause.op}' is not supported by the '{clause.field}' field."
            )
            return _never
        terms = [t for t in re.findall(r"[\w*]+", value.text.lower()) if t.strip("*")]
        getter: Callable[[Issue], str] = {
            "summary": lambda i: i.summary,
            "description": lambda i: i.description,
            "text": lambda i: f"{i.summary} {i.description}",
        }[spec.kind]

        def contains(issue: Issue) -> bool:
            words = re.findall(r"\w+", getter(issue).lower())
            for term in terms:
                if term.endswith("*"):
                    if not any(w.startswith(term.rstrip("*")) for w in words):
                        return False
                elif term not in words:
                    return False
            return True

        if clause.op == "!~":
            return lambda issue: not contains(issue)
        return contains

    def sort(self, item: SortItem) -> tuple[SortKey, bool] | None:
        spec = FIELDS.get(item.field.lower())
        if spec is None:
            self.errors.append(
                f"Field '{item.field}' does not exist or you do not have permission to view it."
            )
            return None
        key = SORT_KEYS.get(spec.kind)
        if key is None:
            self.errors.append(f"Not able to sort using field '{item.field}'.")
            return None
        descending = item.direction == "DESC" or (
            item.direction is None and spec.kind in DATE_KINDS
        )
        return key, descending


_UNRESOLVED = object()


def clause_name(spec: FieldSpec) -> str:
    return spec.name


def _never(_issue: Issue) -> bool:
    return False


_EQ_GETTERS: dict[str, Callable[[Issue], Any]] = {
    "project": lambda i: i.project.id,
    "status": lambda i: i.status.id,
    "category": lambda i: i.status.category.id,
    "issuetype": lambda i: i.issuetype.id,
    "priority": lambda i: i.priority.id,
    "resolution": lambda i: None if i.resolved is None else "Done",
    "assignee": lambda i: None if i.assignee is None else i.assignee.account_id,
    "key": lambda i: i.id,
    "labels": lambda i: i.labels,
}


def _compare(
    getter: Callable[[Issue], Any], op: str, values: list[Any], *, minute: bool
) -> Predicate:
    def norm(v: Any) -> Any:
        return v - v % 60_000 if minute and isinstance(v, int) else v

    target = values[0]
    if op in ("=", "IN"):
        wanted = {norm(v) for v in values}
        return lambda i: (v := getter(i)) is not None and norm(v) in wanted
    if op in ("!=", "NOT IN"):
        unwanted = {norm(v) for v in values}
        return lambda i: (v := getter(i)) is not None and norm(v) not in unwanted
    if op == ">":
        return lambda i: (v := getter(i)) is not None and v > target
    if op == ">=":
        return lambda i: (v := getter(i)) is not None and v >= target
    if op == "<":
        return lambda i: (v := getter(i)) is not None and v < target
    return lambda i: (v := getter(i)) is not None and v <= target


def compile_query(
    text: str, catalogue: Catalogue, *, now: int, current_user: User | None = None
) -> Query:
    """Parse and check ``text`` against a site's data; raises :class:`JQLError`."""
    parsed = parse(text)
    compiler = _Compiler(catalogue, now, current_user)
    predicate = compiler.node(parsed.where) if parsed.where is not None else None
    order = [compiler.sort(item) for item in parsed.order]
    if compiler.errors:
        raise JQLError(compiler.errors)
    keys = [o for o in order if o is not None]
    if not keys:
        keys = [(SORT_KEYS["key"], True)]
    bound = _updated_bound(parsed.where, compiler)
    return Query(
        text,
        predicate,
        tuple(keys),
        parsed.where is not None,
        compiler.uses_now,
        shape=_shape(parsed.where),
        updated_from=bound,
    )


def _shape(node: Node | None) -> Hashable:
    """``node`` as nested tuples without source positions (a cache key)."""
    if node is None:
        return None
    if isinstance(node, BoolOp):
        return (node.op, tuple(_shape(item) for item in node.items))
    if isinstance(node, Not):
        return ("NOT", _shape(node.item))
    values = tuple(
        (type(v).__name__, v.text, v.quoted)
        if isinstance(v, Literal)
        else (type(v).__name__, v.name.lower(), v.args)
        if isinstance(v, Function)
        else ("Empty",)
        for v in node.values
    )
    return ("clause", node.field.lower(), node.op, values)


def _updated_bound(node: Node | None, compiler: _Compiler) -> int | None:
    """The largest lower bound on ``updated`` among the top-level AND's clauses, if any."""
    if node is None:
        return None
    items = node.items if isinstance(node, BoolOp) and node.op == "AND" else (node,)
    bounds: list[int] = []
    for item in items:
        if not isinstance(item, Clause) or item.op not in (">=", ">") or len(item.values) != 1:
            continue
        spec = FIELDS.get(item.field.lower())
        if spec is None or spec.kind != "updated":
            continue
        value = compiler.date_value(spec, item.values[0])
        if value is not None:
            bounds.append(value if item.op == ">=" else value + 1)
    return max(bounds) if bounds else None


def run(query: Query, issues: Sequence[Issue]) -> list[Issue]:
    """Filter and sort; empty values sort as the largest, the issue id breaks ties."""
    predicate = query.predicate
    result = list(issues) if predicate is None else [i for i in issues if predicate(i)]
    return order(query, result)


def order(query: Query, issues: Sequence[Issue]) -> list[Issue]:
    """``issues`` in the query's order (empty values last, the issue id breaking ties)."""
    result = sorted(issues, key=lambda i: i.id)
    for key, descending in reversed(query.order):
        result.sort(key=_sort_key(key), reverse=descending)
    return result


def _sort_key(key: SortKey) -> Callable[[Issue], tuple[bool, Any]]:
    def sort_key(issue: Issue) -> tuple[bool, Any]:
        value = key(issue)
        return (value is None, value if value is not None else 0)

    return sort_key


__all__ = ["DONE", "UNBOUNDED", "JQLError", "Query", "compile_query", "order", "parse", "run"]
