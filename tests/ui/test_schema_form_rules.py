"""The schema review form: each column's decimals and the schema's constraints, edited
by the steward and saved with the schema (form post -> schema file)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pipelines.store.models import Source
from synthgen.tabular.schema import Schema
from tests.support.service import ServiceEnv
from tests.ui.conftest import signed_in
from tests.ui.test_accessibility import check
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


def test_a_refused_form_comes_back_as_typed_and_can_be_sent_again(
    sqlite_service: ServiceEnv,
) -> None:
    env = sqlite_service
    source_id, steward, form, page = _review(env)
    box = _rule_box(page, PROPOSED)
    typed = {
        "col-0-max": "120",  # a public limit for age
        "col-1-decimals": "1",
        "col-0-kind": "continuous",  # age: was integer
        box: "on",
        "rules-added": "- {type: inequality, low: total",  # not YAML: refused
        "accept-all": "on",
    }
    response = steward.post(f"/ui/sources/{source_id}/schema", data={**form, **typed})
    assert response.status_code == 422, response.text[:300]
    html = response.text
    assert 'id="refusal">the added constraints are not YAML' in html
    assert ">- {type: inequality, low: total</textarea>" in html
    assert 'name="col-0-max" value="120"' in html and 'name="col-1-decimals" value="1"' in html
    assert re.search(
        r'name="col-0-kind"[^>]*>\s*(<option [^>]*>[^<]*</option>)*?'
        r"<option selected>continuous<",
        html,
    )
    assert re.search(rf'name="{box}"[^>]* checked', html)
    assert re.search(r'name="accept-all"[^>]* checked', html)
    assert _saved_none(env, source_id)
    check(html, "a refused schema review")  # labelled like the page itself

    again = {**_schema_form(html), box: "on", "accept-all": "on", "rules-added": ADDED}
    assert again["col-1-decimals"] == "1" and again["col-0-kind"] == "continuous"
    accepted = steward.post(f"/ui/sources/{source_id}/schema", data=again, follow_redirects=False)
    assert accepted.status_code == 303, accepted.text[:300]
    schema = _saved(env, source_id)
    age, total = schema.columns[0], schema.columns[1]
    assert (age.kind, age.maximum, total.decimals) == ("continuous", 120, 1)
    assert [c.describe() for c in schema.constraints] == ["direct <= total", "total <= age"]


def test_a_drawn_value_left_unaccepted_comes_back_with_its_accept_boxes(
    sqlite_service: ServiceEnv,
) -> None:
    env = sqlite_service
    source_id, steward, form, page = _review(env)
    ticked = sorted(set(re.findall(r'name="(accept-\d+-\w+)"', page)))[:2]
    response = steward.post(
        f"/ui/sources/{source_id}/schema", data={**form, **dict.fromkeys(ticked, "on")}
    )
    assert response.status_code == 422, response.text[:300]
    assert "drawn from the data" in response.text
    for name in ticked:
        assert re.search(rf'name="{name}"[^>]* checked', response.text), name
    assert not re.search(r'name="accept-all"[^>]* checked', response.text)


def test_a_refused_form_still_needs_its_csrf_token(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    source_id, steward, form, _page = _review(env)
    bad = {**form, "csrf_token": "forged", "rules-added": "- {type: inequality, low: total"}
    response = steward.post(f"/ui/sources/{source_id}/schema", data=bad)
    assert response.status_code == 403 and "Form refused" in response.text
    assert "low: total" not in response.text
