"""Schemathesis against the OpenAPI spec: generated valid and invalid requests for every
operation, with a key of a role that may call it. No request may cause a 5xx, and every
4xx carries a message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.service.conftest import (
    COHORT_SCHEMA,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)

pytestmark = pytest.mark.slow

EXAMPLES = 12
KEYS: dict[str, str] = {}
IDS: dict[str, str] = {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceEnv]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    url = fresh_database(request.param, request, data_dir)
    for env in build_service(make_settings(data_dir, url, max_upload_bytes=200_000)):
        for role in ("steward", "ml_engineer", "auditor", "admin"):
            KEYS[role] = env.key(role)
        IDS["source"] = env.ready_source(
            cohort_csv(), COHORT_SCHEMA, epsilon_budget=1e5, delta_budget=1e-3
        )
        yield env


def role_for(path: str) -> str | None:
    if path in ("/health", "/ready"):
        return None
    if path.endswith("/samples"):
        return "ml_engineer"
    if path.startswith(("/v1/audit", "/v1/users")):
        return "admin"
    return "steward"


def check_operation(operation: Any, mode: GenerationMode) -> None:
    role = role_for(operation.path)
    headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if (
            mode == GenerationMode.POSITIVE
            and isinstance(case.body, dict)
            and "source_id" in case.body
        ):
            case.body["source_id"] = IDS["source"]  # reach the ledger, not only the 404
        response = case.call(headers=headers)
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
        if response.status_code >= 400:
            assert response.json().get("detail"), (
                f"{where}: a {response.status_code} without a message"
            )

    run()


def test_openapi_fuzz_no_server_errors(fuzz_service: ServiceEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_service.app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                check_operation(operation, mode)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}): {str(exc)[:500]}"
                )
    assert not failures, "\n".join(failures)


def test_openapi_spec_is_served(fuzz_service: ServiceEnv, tmp_path: Path) -> None:
    spec = fuzz_service.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKey"]["scheme"] == "bearer"
    assert {
        "/health",
        "/v1/sources",
        "/v1/jobs",
        "/v1/releases/{release_id}/data",
        "/v1/audit",
    } <= set(spec["paths"])
    assert fuzz_service.client.get("/docs").status_code == 200
