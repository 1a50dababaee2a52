"""The schema review form: each column's decimals and the schema's constraints, edited
by the steward and saved with the schema (form post -> schema file)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pipelines.store.models import Source
from synthgen.tabular.schema import Schema
from tests.support.service import ServiceEnv
from tests.ui.conftest import signed_in
from tests.ui.test_constraint_acceptance import _table
from tests.ui.test_flow import _schema_form

PROPOSED = "direct &lt;= total"  # the draft finds it: direct is a part of total in every row
ADDED = "- {type: inequality, low: total, high: age}  # total < 21 <= age in every row"


def _review(env: ServiceEnv) -> tuple[str, TestClient, dict[str, str], str]:
    """A source without a reviewed schema, the steward's client, the form as the page
    fills it (nothing accepted) and the page."""
    source_id = env.ready_source(_table())
    steward = signed_in(env, "steward")
    page = steward.get(f"/ui/sources/{source_id}/schema")
    assert page.status_code == 200, page.text
    return source_id, steward, _schema_form(page.text), page.text


def _rule_box(html: str, text: str) -> str:
    match = re.search(r'name="(rule-\d+-keep)"[^>]*>\s*keep <code class="rule">' + text, html)
    assert match, f"no box for {text}"
    return match.group(1)


def _saved(env: ServiceEnv, source_id: str) -> Schema:
    with env.db.session() as session:
        ref = session.get(Source, source_id).schema_ref  # type: ignore[union-attr]
    return Schema.load(env.app.state.services.store.resolve(ref))


def test_decimals_and_constraints_posted_in_the_form_are_saved(
    sqlite_service: ServiceEnv,
) -> None:
    env = sqlite_service
    source_id, steward, form, page = _review(env)
    assert form["col-1-decimals"] == "2" and form["col-2-decimals"] == "2"  # drafted: 2
    form["col-1-decimals"] = "1"  # edited: the steward's public value
    form[_rule_box(page, PROPOSED)] = "on"  # keep the proposed rule: accepts it
    form["rules-added"] = ADDED
    form["accept-all"] = "on"
    response = steward.post(f"/ui/sources/{source_id}/schema", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    schema = _saved(env, source_id)
    decimals = {c.name: c.decimals for c in schema.columns}
    assert decimals["total"] == 1 and decimals["direct"] == 2
    assert [c.describe() for c in schema.constraints] == ["direct <= total", "total <= age"]
    (entry,) = schema.public_from_data
    assert "constraint: direct <= total" in entry["values"]
    assert "direct.decimals" in entry["values"] and "total.decimals" not in entry["values"]
    reviewed = steward.get(f"/ui/sources/{source_id}/schema").text  # shown, read-only
    assert PROPOSED in reviewed and "total &lt;= age" in reviewed
    assert 'name="rules-added"' not in reviewed


def test_a_proposed_rule_left_unticked_is_removed_and_not_made_public(
    sqlite_service: ServiceEnv,
) -> None:
    env = sqlite_service
    source_id, steward, form, _page = _review(env)
    form["accept-all"] = "on"
    response = steward.post(f"/ui/sources/{source_id}/schema", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    schema = _saved(env, source_id)
    assert schema.constraints == ()
    assert not any(v.startswith("constraint:") for v in schema.public_from_data[0]["values"])


def test_bad_decimals_and_bad_rules_are_refused_with_one_line(
    sqlite_service: ServiceEnv,
) -> None:
    env = sqlite_service
    source_id, steward, form, _page = _review(env)
    form["accept-all"] = "on"
    for field, value, message in (
        ("col-1-decimals", "13", "decimals must be a whole number from 0 to 12"),
        ("rules-added", "- {type: inequality, low: total", "not YAML"),
        ("rules-added", "- {type: inequality, low: total, high: nowhere}", "nowhere"),
        ("rules-added", "- {type: formula, column: total, expression: 'direct ** 2'}", "formula"),
    ):
        bad = {**form, field: value}
        response = steward.post(f"/ui/sources/{source_id}/schema", data=bad)
        assert response.status_code == 422, (value, response.text[:300])
        assert message in response.text
    assert _saved_none(env, source_id)


def _saved_none(env: ServiceEnv, source_id: str) -> bool:
    with env.db.session() as session:
        return session.get(Source, source_id).schema_ref is None  # type: ignore[union-attr]
