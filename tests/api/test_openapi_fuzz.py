"""Schemathesis against the OpenAPI spec, bounded to fit CI (about 15 s per store on a
2-core machine): no request may cause a 5xx, and every 4xx carries a message.

- **Every operation x every role** (and no key): the roles the operation serves get
  generated valid and invalid requests (positive ones alternate between random ids and
  the ids of seeded objects, so the deep paths run, not only the 404s); the roles it does
  not serve get a few requests and must never get a 2xx.
- **Stateful**: the state machine schemathesis infers from the spec (a created job's id
  feeds its status, cancel and retry; a listed release's id feeds its data, report,
  approval and samples; a created user feeds its keys and revocation), once per role and
  once with each step's key chosen by the path.

Sizes are fixed (examples, steps) and the data is derandomized, so a run is repeatable;
any single request that takes over 30 s fails the run (a stall, not a slow CI box).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from schemathesis.generation import GenerationMode
from sqlalchemy import select, update

from pipelines.store.models import ApiKey, User
from tests.support.service import (
    COHORT_SCHEMA,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)

pytestmark = pytest.mark.slow

# SYNTHGEN_FUZZ_SCALE=N: N times the examples and scenarios, with fresh random data each
# run (a longer hunt outside CI); CI runs the fixed, derandomized scale 1
SCALE = int(os.environ.get("SYNTHGEN_FUZZ_SCALE", "1"))
EXAMPLES = 8 * SCALE  # per operation, role and mode (valid, invalid) for the roles it serves
REFUSED_EXAMPLES = 2 * SCALE  # per operation for each role it does not serve
STATEFUL_SCENARIOS = 16 * SCALE  # per state machine run
STATEFUL_STEPS = 10
# a request slower than this is a stall (a busy 2-core CI box answers in well under 1 s)
REQUEST_SECONDS = 30.0
ROLES = ("steward", "ml_engineer", "auditor", "admin")
KEYS: dict[str, str] = {}
IDS: dict[str, list[str]] = {}


def _settings(examples: int, **extra: Any) -> settings:
    # Hypothesis' deadline covers a whole example, i.e. a whole stateful scenario: requests
    # are timed one by one instead (timed_call)
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SCALE == 1,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceEnv]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    url = fresh_database(request.param, request, data_dir)
    overrides = {
        "max_upload_bytes": 200_000,
        "requests_per_minute": 0,  # thousands of requests a minute on one key
        # quotas on, high enough for the fuzzer's hundreds of queued jobs
        "max_open_jobs_per_user": 10_000,
        "max_open_rows_per_user": 10**12,
    }
    for env in build_service(make_settings(data_dir, url, **overrides)):
        for role in ROLES:
            KEYS[role] = env.key(role)
        approved = env.released(cohort_csv(), COHORT_SCHEMA)
        pending = env.released(cohort_csv(seed=2), COHORT_SCHEMA, approve=False)
        IDS.clear()
        IDS.update(
            source_id=[approved["source_id"]],
            job_id=[approved["id"], pending["id"]],
            release_id=[approved["release_id"], pending["release_id"]],
            name=["steward", "nobody"],
        )
        yield env


def reinstate_fuzz_users(env: ServiceEnv) -> None:
    """Revocations and role changes are fair game for the fuzzer; undo them between runs
    (each fuzz user is named after its role)."""
    names = list(ROLES)
    with env.db.transaction() as session:
        ids = session.scalars(select(User.id).where(User.name.in_(names))).all()
        session.execute(update(User).where(User.id.in_(ids)).values(disabled_at=None))
        session.execute(update(ApiKey).where(ApiKey.user_id.in_(ids)).values(revoked_at=None))
        for name in names:
            session.execute(update(User).where(User.name == name).values(role=name))


# who each operation serves (docs/http-api.md's table); None: no key needed
def served_roles(method: str, path: str) -> tuple[str | None, ...]:
    everyone = ROLES
    readers = ("steward", "auditor", "ml_engineer")
    if path in ("/health", "/ready"):
        return (None, *everyone)
    if path == "/v1/me" or (method == "GET" and path.startswith("/v1/jobs")):
        return everyone
    if (path == "/v1/sources" and method == "POST") or method == "PUT":
        return ("steward",)  # upload, accept a reviewed schema, change a budget
    if path.startswith("/v1/sources"):
        return ("steward", "auditor")
    if path == "/v1/jobs":
        return ("steward",)
    if path.endswith("/cancel"):
        return ("steward", "ml_engineer", "admin")
    if path.endswith("/retry"):
        return ("steward", "admin")
    if path.endswith("/report"):
        return ("steward", "auditor")
    if path.endswith(("/approve", "/reject")):
        return ("steward",)
    if path.endswith("/samples"):
        return ("ml_engineer",)
    if path.startswith("/v1/releases"):
        return readers
    if path.startswith("/v1/audit"):
        return ("auditor", "admin")
    if path.startswith("/v1/users"):
        return ("admin",)  # list, create, keys, revoke, PATCH /v1/users/{name} (the role)
    raise AssertionError(f"no roles listed for {method} {path}: add it to served_roles")


def role_for(path: str, method: str = "GET") -> str | None:
    """The one role a mixed scenario uses for a step."""
    return served_roles(method, path)[0]


def headers_for(role: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"} if role else {}


def check_response(response: Any, where: str, *, refused: bool = False) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert response.json().get("detail"), f"{where}: a {response.status_code} without a message"
    if refused:
        assert not 200 <= response.status_code < 300, (
            f"{where}: {response.status_code} for a role it does not serve"
        )


def timed_call(case: Any, **kwargs: Any) -> Any:
    started = time.monotonic()
    response = case.call(**kwargs)
    took = time.monotonic() - started
    assert took < REQUEST_SECONDS, f"{case.method} {case.formatted_path} took {took:.0f} s"
    return response


def seed_ids(case: Any, turn: Iterator[int]) -> None:
    """Every other valid request names seeded objects, so it reaches past the 404."""
    if next(turn) % 2:
        return
    for name, values in IDS.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = values[next(turn) % len(values)]
    if isinstance(case.body, dict) and "source_id" in case.body:
        case.body["source_id"] = IDS["source_id"][0]  # reach the ledger, not only the 404


def check_operation(
    operation: Any, mode: GenerationMode, role: str | None, examples: int, refused: bool
) -> None:
    headers = headers_for(role)
    turn = itertools.count()

    @given(case=operation.as_strategy(generation_mode=mode))
    @_settings(examples)
    def run(case: Any) -> None:
        if mode == GenerationMode.POSITIVE:
            seed_ids(case, turn)
        response = timed_call(case, headers=headers)
        check_response(response, f"{case.method} {case.formatted_path} as {role}", refused=refused)

    run()


def test_openapi_fuzz_every_operation_and_role(fuzz_service: ServiceEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_service.app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20
    failures = []
    started = time.monotonic()
    for operation in operations:
        method = operation.method.upper()
        served = served_roles(method, operation.path)
        for role in (*ROLES, None):
            runs = (
                [
                    (GenerationMode.POSITIVE, EXAMPLES, False),
                    (GenerationMode.NEGATIVE, EXAMPLES, False),
                ]
                if role in served
                else [(GenerationMode.POSITIVE, REFUSED_EXAMPLES, True)]
            )
            for mode, examples, refused in runs:
                try:
                    check_operation(operation, mode, role, examples, refused)
                except Unsatisfiable:
                    continue  # nothing to make invalid (no parameters, no body)
                except Exception as exc:  # collect every failure, then report them all
                    failures.append(
                        f"{method} {operation.path} as {role} ({mode.value}): {str(exc)[:500]}"
                    )
        reinstate_fuzz_users(fuzz_service)
    print(f"stateless fuzz: {time.monotonic() - started:.0f} s")  # shown with -s
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ["steward", "ml_engineer", "auditor", "by path", "admin"])
def test_openapi_fuzz_stateful(fuzz_service: ServiceEnv, role: str) -> None:
    reinstate_fuzz_users(fuzz_service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_service.app)
    machine = schema.as_state_machine()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def call(self, case: Any, **kwargs: Any) -> Any:
            return timed_call(case, **kwargs)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            who = role_for(case.path, case.method.upper()) if role == "by path" else role
            return {"headers": headers_for(who)}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            check_response(response, f"{case.method} {case.formatted_path} as {role}")

    try:
        Scenario.run(settings=_settings(STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS))
    except FlakyStrategyDefinition:
        # The links feed on live responses, which change as scenarios change the service
        # (a release gets approved, a user revoked), so Hypothesis may find it cannot
        # replay an earlier scenario's choices and stops early. Not a finding: every request
        # made was checked, and a failing one raises its own error, not this one.
        print(f"stateful fuzz as {role}: stopped early (the service's state moved on)")
    reinstate_fuzz_users(fuzz_service)


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
