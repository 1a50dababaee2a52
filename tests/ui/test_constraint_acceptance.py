"""A steward accepts the constraints a draft proposes through the service, explicitly."""

from __future__ import annotations

import random

from synthgen.tabular.schema import Schema
from tests.support.service import ServiceEnv

RULE = "constraint: direct <= total"


def _table(rows: int = 80) -> bytes:
    """Made-up records where `direct` is a part of `total` in every row."""
    rng = random.Random(3)
    lines = ["age,total,direct,outcome"]
    for _ in range(rows):
        total = rng.uniform(0.5, 20)
        lines.append(
            f"{rng.randint(20, 80)},{total:.2f},{total * rng.uniform(0.1, 0.9):.2f},{rng.randint(0, 1)}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_a_proposed_constraint_is_public_only_once_accepted(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    source_id = env.ready_source(_table())
    headers = env.headers("steward")
    draft = env.client.get(f"/v1/sources/{source_id}/schema/draft", headers=headers).json()
    (proposal,) = [c for c in draft["constraints"] if c["drawn_from_data"] == RULE]
    assert proposal["fields"] == {"type": "inequality", "low": "direct", "high": "total"}
    assert proposal["rows_breaking"] == 0 and proposal["rows_compared"] == 80
    columns = [c["fields"] for c in draft["columns"]]
    drawn = [f"{c['fields']['name']}.{f}" for c in draft["columns"] for f in c["drawn_from_data"]]
    body = {"columns": columns, "accepted_from_data": drawn, "constraints": [proposal["fields"]]}
    refused = env.client.put(f"/v1/sources/{source_id}/schema", json=body, headers=headers)
    assert refused.status_code == 422 and RULE in refused.text
    body["accepted_from_data"] = [*drawn, RULE]
    response = env.client.put(f"/v1/sources/{source_id}/schema", json=body, headers=headers)
    assert response.status_code == 202, response.text
    from pipelines.store.models import Source

    with env.db.session() as session:
        ref = session.get(Source, source_id).schema_ref  # type: ignore[union-attr]
    schema = Schema.load(env.app.state.services.store.resolve(ref))
    assert [c.describe() for c in schema.constraints] == ["direct <= total"]
    (entry,) = schema.public_from_data
    assert RULE in entry["values"]
    reviewed = env.client.get(f"/v1/sources/{source_id}/schema/draft", headers=headers).json()
    assert reviewed["constraints"][0]["fields"] == proposal["fields"]
