"""A small Python client for the synthgen service (httpx only; no other synthgen import).

from api.client import SynthgenClient

steward = SynthgenClient("http://127.0.0.1:8000", key="sg_...")
source = steward.upload_source("cohort.csv", name="cohort", target="outcome",
                               epsilon_budget=10, schema="schema.yaml")
job = steward.wait(steward.request_dataset(source["id"], epsilon=3, rows=5000)["id"])
steward.approve(job["release_id"], reason="report reviewed")

engineer = SynthgenClient("http://127.0.0.1:8000", key="sg_...")
engineer.download(job["release_id"], "synthetic.parquet", format="parquet")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")


class ClientError(Exception):
    """The service refused a request; ``status`` is the HTTP status, ``detail`` its reason."""

    def __init__(
        self, status: int, detail: str, body: Any = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body
        self.retry_after = retry_after  # seconds, for a 429 (the service's Retry-After)


class SynthgenClient:
    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SynthgenClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            body = response.json()
            detail = body.get("detail") if isinstance(body, dict) else str(body)
            if isinstance(detail, list):  # FastAPI validation errors
                detail = "; ".join(
                    f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail
                )
            if isinstance(body, dict) and body.get("problems"):
                detail = f"{detail}: {'; '.join(body['problems'])}"
        except ValueError:
            body, detail = response.text, response.text or response.reason_phrase
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
        raise ClientError(response.status_code, str(detail), body, retry_after=retry_after)

    def _get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._check(self._http.get(path, params=clean)).json()

    def _post(self, path: str, json: Any = None) -> Any:
        return self._check(self._http.post(path, json=json)).json()

    def _save(self, path: str, out: str | Path, params: dict[str, Any]) -> Path:
        out = Path(out)
        tmp = out.with_name(f".{out.name}.part")
        with self._http.stream("GET", path, params=params) as response:
            if not response.is_success:
                response.read()
                self._check(response)
            with tmp.open("wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    fh.write(chunk)
        tmp.replace(out)
        return out

    # -- everyone ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return dict(self._get("/health"))

    def me(self) -> dict[str, Any]:
        return dict(self._get("/v1/me"))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/jobs/{job_id}"))

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._get("/v1/jobs", **filters))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._post(f"/v1/jobs/{job_id}/cancel"))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 3600.0,
        poll: float = 1.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a job until it ends; returns its final status (check ``state``). A 429 (too
        many requests on this key) waits as long as the service asks, then polls again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.job(job_id)
            except ClientError as exc:
                if exc.status != 429 or time.monotonic() > deadline:
                    raise
                time.sleep(max(poll, exc.retry_after or 0.0))
                continue
            if on_update is not None:
                on_update(status)
            if status["state"] in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status['state']} after {timeout:.0f} s")
            time.sleep(poll)

    # -- stewards ----------------------------------------------------------------------------
    def upload_source(
        self,
        path: str | Path,
        *,
        name: str,
        epsilon_budget: float,
        target: str | None = None,
        delta_budget: float | None = None,
        schema: str | Path | None = None,
        entity: str | None = None,
        max_records_per_entity: int | None = None,
    ) -> dict[str, Any]:
        """``entity`` (images): the patient id source, dicom:KEYWORD, csv:COLUMN or folder;
        ``max_records_per_entity``: the cap on images per patient."""
        data: dict[str, str] = {"name": name, "epsilon_budget": repr(float(epsilon_budget))}
        if target is not None:
            data["target"] = target
        if delta_budget is not None:
            data["delta_budget"] = repr(float(delta_budget))
        if entity is not None:
            data["entity"] = entity
        if max_records_per_entity is not None:
            data["max_records_per_entity"] = str(int(max_records_per_entity))
        path = Path(path)
        with path.open("rb") as fh:
            files: dict[str, Any] = {"file": (path.name, fh, "application/octet-stream")}
            if schema is not None:
                schema = Path(schema)
                files["schema"] = (schema.name, schema.read_bytes(), "application/yaml")
            return dict(self._check(self._http.post("/v1/sources", data=data, files=files)).json())

    def sources(self) -> list[dict[str, Any]]:
        return list(self._get("/v1/sources"))

    def source(self, source_id: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/sources/{source_id}"))

    def ledger(self, source_id: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/sources/{source_id}/ledger"))

    def request_dataset(
        self,
        source_id: str,
        *,
        epsilon: float,
        rows: int | None = None,
        seed: int = 0,
        class_counts: dict[str, int] | None = None,
        delta: float | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "source_id": source_id,
            "epsilon": epsilon,
            "rows": rows,
            "seed": seed,
            "class_counts": class_counts,
            "delta": delta,
            **extra,
        }
        return dict(self._post("/v1/jobs", {k: v for k, v in body.items() if v is not None}))

    def approve(self, release_id: str, reason: str | None = None) -> dict[str, Any]:
        return dict(self._post(f"/v1/releases/{release_id}/approve", {"reason": reason}))

    def reject(self, release_id: str, reason: str | None = None) -> dict[str, Any]:
        return dict(self._post(f"/v1/releases/{release_id}/reject", {"reason": reason}))

    def report(self, release_id: str, out: str | Path, *, format: str = "html") -> Path:
        return self._save(f"/v1/releases/{release_id}/report", out, {"format": format})

    # -- releases (ML engineers, stewards, auditors) ----------------------------------------
    def releases(self, state: str | None = None) -> list[dict[str, Any]]:
        return list(self._get("/v1/releases", state=state))

    def release(self, release_id: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/releases/{release_id}"))

    def certificate(self, release_id: str) -> dict[str, Any]:
        return dict(self._get(f"/v1/releases/{release_id}/certificate"))

    def download(self, release_id: str, out: str | Path, *, format: str | None = None) -> Path:
        params = {"format": format} if format else {}
        return self._save(f"/v1/releases/{release_id}/data", out, params)

    def more_samples(
        self,
        release_id: str,
        *,
        rows: int | None = None,
        seed: int = 0,
        class_counts: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        body = {"rows": rows, "seed": seed, "class_counts": class_counts}
        return dict(
            self._post(
                f"/v1/releases/{release_id}/samples",
                {k: v for k, v in body.items() if v is not None},
            )
        )

    # -- auditors and admins ----------------------------------------------------------------
    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._get("/v1/audit", **filters))
