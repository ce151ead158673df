"""The JQL subset: meaning, order and Jira's error messages, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from okr_sandboxes.jira.data import DONE, JiraData, to_ms
from okr_sandboxes.jira.jql import JQLError, compile_query, run

ANCHOR = datetime(2026, 3, 31, tzinfo=UTC)
NOW = to_ms(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def data() -> JiraData:
    return JiraData(seed="jql", issues=400, projects=("ENG", "OPS", "WEB"), anchor=ANCHOR)


def keys(data: JiraData, jql: str) -> list[str]:
    query = compile_query(jql, data, now=NOW)
    return [i.key for i in run(query, list(data.issues.values()))]


def matching(data: JiraData, test: object) -> set[str]:
    return {i.key for i in data.issues.values() if test(i)}  # type: ignore[operator]


def errors(data: JiraData, jql: str) -> list[str]:
    with pytest.raises(JQLError) as caught:
        compile_query(jql, data, now=NOW)
    return caught.value.messages


def test_project_equality_and_lists(data: JiraData) -> None:
    assert set(keys(data, "project = ENG")) == matching(data, lambda i: i.project.key == "ENG")
    assert set(keys(data, "project in (eng, Operations)")) == matching(
        data, lambda i: i.project.key in ("ENG", "OPS")
    )
    assert set(keys(data, "project not in (ENG, OPS)")) == matching(
        data, lambda i: i.project.key == "WEB"
    )


def test_status_category_accepts_name_and_key(data: JiraData) -> None:
    done = matching(data, lambda i: i.status.category is DONE)

    assert set(keys(data, "statusCategory = Done")) == done
    assert set(keys(data, 'statusCategory = "done"')) == done
    assert set(keys(data, "statusCategory != Done")) == set(data.by_key) - done


def test_and_binds_tighter_than_or_and_parentheses_override(data: JiraData) -> None:
    loose = keys(data, "project = ENG AND status = Done OR issuetype = Bug")
    grouped = keys(data, "project = ENG AND (status = Done OR issuetype = Bug)")

    assert set(loose) == matching(
        data,
        lambda i: (i.project.key == "ENG" and i.status.name == "Done") or i.issuetype.name == "Bug",
    )
    assert set(grouped) == matching(
        data,
        lambda i: i.project.key == "ENG" and (i.status.name == "Done" or i.issuetype.name == "Bug"),
    )
    assert set(keys(data, "project = ENG && NOT status = Done")) == matching(
        data, lambda i: i.project.key == "ENG" and i.status.name != "Done"
    )


def test_labels_emptiness_and_resolution(data: JiraData) -> None:
    assert set(keys(data, "project = ENG AND labels = backend")) == matching(
        data, lambda i: i.project.key == "ENG" and "backend" in i.labels
    )
    assert set(keys(data, "project = ENG AND labels is EMPTY")) == matching(
        data, lambda i: i.project.key == "ENG" and not i.labels
    )
    assert set(keys(data, "project = ENG AND resolution = Unresolved")) == matching(
        data, lambda i: i.project.key == "ENG" and i.resolved is None
    )


def test_story_points_compare_as_numbers(data: JiraData) -> None:
    assert set(keys(data, 'project = ENG AND "Story point estimate" >= 5')) == matching(
        data, lambda i: i.project.key == "ENG" and i.points is not None and i.points >= 5
    )
    assert set(keys(data, "cf[10016] is EMPTY AND project = OPS")) == matching(
        data, lambda i: i.project.key == "OPS" and i.points is None
    )


def test_dates_absolute_relative_epoch_and_functions(data: JiraData) -> None:
    cut = to_ms(datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
    after = matching(data, lambda i: i.updated >= cut)

    assert set(keys(data, 'project in (ENG, OPS, WEB) AND updated >= "2026-03-01 08:30"')) == after
    assert set(keys(data, 'project in (ENG, OPS, WEB) AND updated >= "2026/03/01 08:30"')) == after
    assert set(keys(data, f"project in (ENG, OPS, WEB) AND updated >= {cut}")) == after
    two_weeks = NOW - 14 * 86_400_000
    assert set(keys(data, "project in (ENG, OPS, WEB) AND updated > -2w")) == matching(
        data, lambda i: i.updated > two_weeks
    )
    start_of_month = to_ms(datetime(2026, 4, 1, tzinfo=UTC))
    assert set(keys(data, "project = ENG AND created < startOfMonth()")) == matching(
        data, lambda i: i.project.key == "ENG" and i.created < start_of_month
    )
    previous = to_ms(datetime(2026, 3, 1, tzinfo=UTC))
    assert set(keys(data, "project = ENG AND created >= startOfMonth(-1M)")) == matching(
        data, lambda i: i.project.key == "ENG" and i.created >= previous
    )


def test_text_search_matches_words(data: JiraData) -> None:
    assert set(keys(data, 'project = ENG AND summary ~ "login"')) == matching(
        data, lambda i: i.project.key == "ENG" and "login" in i.summary.lower().split()
    )


def test_order_by_with_directions_and_id_tiebreak(data: JiraData) -> None:
    result = compile_query("project = ENG ORDER BY status DESC, updated ASC", data, now=NOW)
    ordered = run(result, list(data.issues.values()))

    pairs = [(-i.status.rank, i.updated, i.id) for i in ordered]
    assert pairs == sorted(pairs)
    default = keys(data, "project = ENG")
    assert default == sorted(default, key=lambda k: int(k.split("-")[1]), reverse=True)
    newest_first = run(compile_query("project = ENG ORDER BY created", data, now=NOW), [])
    assert newest_first == []


def test_syntax_errors_have_jiras_wording_and_position(data: JiraData) -> None:
    assert errors(data, "project = ENG status = Done") == [
        "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'status'. "
        "(line 1, character 15)"
    ]
    assert errors(data, "project in (ENG, OPS") == [
        "Error in the JQL Query: Expecting ',' or ')' before the end of the query."
    ]
    assert errors(data, 'summary ~ "unfinished') == [
        "Error in the JQL Query: The quoted string 'unfinished' has not been completed. "
        "(line 1, character 11)"
    ]
    assert errors(data, "project = ENG ORDER updated") == [
        "Error in the JQL Query: Expecting 'BY' but got 'updated'. (line 1, character 21)"
    ]


def test_semantic_errors_are_collected(data: JiraData) -> None:
    assert errors(data, "project = NOPE AND status = Nope AND flavour = x") == [
        "The value 'NOPE' does not exist for the field 'project'.",
        "The value 'Nope' does not exist for the field 'status'.",
        "Field 'flavour' does not exist or you do not have permission to view it.",
    ]
    assert errors(data, "project ~ ENG") == [
        "The operator '~' is not supported by the 'project' field."
    ]
    assert errors(data, 'updated >= "yesterday"')[0].startswith(
        "Date value 'yesterday' for field 'updated' is invalid. Valid formats include:"
    )
    assert errors(data, "project = ENG ORDER BY labels") == [
        "Not able to sort using field 'labels'."
    ]
    assert errors(data, "issue = ENG-99999") == [
        "An issue with key 'ENG-99999' does not exist for field 'key'."
    ]
    assert errors(data, "updated > yesterday()") == ["Unable to find JQL function 'yesterday()'."]
