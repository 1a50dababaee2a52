"""Accepted drawn values travel with the schema and onto the certificate's assumptions."""

from __future__ import annotations

import pytest
import yaml

from synthgen.errors import SchemaError
from synthgen.tabular.schema import Schema
from synthgen.tabular.train import _accepted_assumptions
from tests.support.service import ServiceEnv

ACCEPTED = {"values": ["age.min", "age.max"], "by": "steward", "at": "2026-12-05T16:00:00+00:00"}


def _schema(**extra: object) -> Schema:
    return Schema.from_dict(
        {"columns": [{"name": "age", "kind": "integer", "min": 20, "max": 80}], **extra}
    )


def test_public_from_data_round_trips_and_reaches_the_certificate() -> None:
    schema = _schema(public_from_data=[ACCEPTED])
    again = Schema.from_dict(yaml.safe_load(schema.to_yaml()))
    assert again.public_from_data == (ACCEPTED,)
    assert again.hash() == schema.hash() != _schema().hash()
    (assumption,) = _accepted_assumptions(again)
    assert assumption["values"] == ["age.min", "age.max"]
    assert assumption["accepted_by"] == "steward at 2026-12-05T16:00:00+00:00"
    assert _accepted_assumptions(_schema()) == []


@pytest.mark.parametrize(
    "bad",
    [{"values": "age.min", "by": "x", "at": "y"}, {"values": [], "by": "x"}, "age.min", [1]],
)
def test_public_from_data_malformed_refused(bad: object) -> None:
    with pytest.raises(SchemaError, match="public_from_data"):
        _schema(public_from_data=[bad] if not isinstance(bad, list) else bad)


def test_review_writes_who_and_when_into_the_schema(
    sqlite_service: ServiceEnv, cohort: bytes
) -> None:
    env = sqlite_service
    source_id = env.ready_source(cohort)
    headers = env.headers("steward")
    draft = env.client.get(f"/v1/sources/{source_id}/schema/draft", headers=headers).json()
    columns = [c["fields"] for c in draft["columns"]]
    for c in columns:
        if c["name"] == "age":
            c["min"], c["max"] = 0, 120  # edited: public by the steward's own knowledge
    accepted = [
        f"{c['fields']['name']}.{f}"
        for c in draft["columns"]
        for f in c["drawn_from_data"]
        if c["fields"]["name"] != "age" or f not in ("min", "max")
    ]
    response = env.client.put(
        f"/v1/sources/{source_id}/schema",
        json={"columns": columns, "accepted_from_data": accepted},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    reviewed = env.client.get(f"/v1/sources/{source_id}/schema/draft", headers=headers).json()
    assert reviewed["accepted"] and all(not c["drawn_from_data"] for c in reviewed["columns"])
    from pipelines.store.models import Source

    with env.db.session() as session:
        ref = session.get(Source, source_id).schema_ref  # type: ignore[union-attr]
    schema = Schema.load(env.app.state.services.store.resolve(ref))
    (entry,) = schema.public_from_data
    assert entry["by"] == "steward" and entry["at"]
    assert "age.min" not in entry["values"] and "sex.categories" in entry["values"]
