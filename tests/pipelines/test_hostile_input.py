"""The service under hostile input (issue 20): archives, schemas, spreadsheet formulas,
server paths in errors, body and cell sizes.

Every case runs on SQLite and PostgreSQL and checks the answer (status and message), that
nothing is left under the data directory, and that the API process (in this process:
TestClient runs the app in it) stays within ``MEMORY_BOUND`` of extra resident memory
while handling the request, sampled from ``/proc/self/statm`` by a thread.
"""

from __future__ import annotations

import io
import os
import random
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from pipelines import uploads
from pipelines.errors import PayloadTooLarge
from pipelines.store.models import Source
from tests.support.service import (
    COHORT_SCHEMA,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)

MEMORY_BOUND = 300 * 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


@contextmanager
def memory_bound(limit: int = MEMORY_BOUND) -> Iterator[None]:
    """Fail if the resident set grows by more than ``limit`` while the block runs."""
    baseline = rss()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
    peak = max(peak, rss())
    assert peak - baseline < limit, f"the API grew by {(peak - baseline) / 2**20:.0f} MiB"


def stored_files(env: ServiceEnv) -> list[Path]:
    """Every file under the data directory except the SQLite store."""
    return [
        p
        for p in env.settings.data_dir.rglob("*")
        if p.is_file() and not p.name.startswith("synthgen.db")
    ]


def nothing_stored(env: ServiceEnv) -> None:
    assert stored_files(env) == []
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Source)) == 0


def upload(
    env: ServiceEnv,
    data: bytes,
    *,
    filename: str = "cohort.csv",
    schema: bytes | None = None,
    schema_name: str = "schema.yaml",
    target: str | None = "outcome",
) -> Any:
    files: dict[str, Any] = {"file": (filename, io.BytesIO(data), "application/octet-stream")}
    if schema is not None:
        files["schema"] = (schema_name, io.BytesIO(schema), "application/octet-stream")
    form = {"name": "hostile", "epsilon_budget": "10"}
    if target:
        form["target"] = target
    return env.client.post("/v1/sources", files=files, data=form, headers=env.headers("steward"))


def refused(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert "\n" not in body["detail"]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


# -- 1. archives -------------------------------------------------------------------------------
@pytest.mark.slow
def test_zip_of_many_small_zero_members_is_refused_before_writing(service: ServiceEnv) -> None:
    """300 members of 1 MiB of zeros (~340 KB zipped, ~900:1 over the whole archive): each
    member is just under the per-member ratio check, the archive as a whole is not."""
    zero = b"\0" * (2**20 - 1)
    bomb = zip_of({f"scans/{c}/{i}.png": zero for c in ("0", "1") for i in range(150)})
    assert len(bomb) < 2**20
    with memory_bound():
        r = upload(service, bomb, filename="scans.zip", target=None)
    refused(r, 413, "compress")
    nothing_stored(service)


def test_archive_over_the_member_or_size_limit_is_refused(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    url = fresh_database(backend, request, data_dir)
    settings = make_settings(data_dir, url, max_archive_members=10, max_extracted_bytes=50_000)
    for env in build_service(settings):
        many = zip_of({f"s/{c}/{i}.png": b"png" for c in ("0", "1") for i in range(6)})
        refused(upload(env, many, filename="s.zip", target=None), 413, "members")
        rng = random.Random(0)
        noise = bytes(rng.getrandbits(8) for _ in range(30_000))
        big = zip_of({"s/0/a.png": noise, "s/1/b.png": noise[::-1]})
        refused(upload(env, big, filename="s.zip", target=None), 413, "expands")
        nothing_stored(env)


@pytest.mark.parametrize("failure", ["insufficient", "ValueError"])
def test_failed_worker_check_rejects_the_source_and_deletes_its_files(
    service: ServiceEnv, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The worker's image check fails with an error it did not expect (as a decoder would on
    a hostile file): the source is rejected with a reason, its extracted files are gone, a
    job queued meanwhile fails without spending, and new jobs are refused."""
    archive = zip_of({f"scans/{c}/{i}.png": b"not a png" for c in ("0", "1") for i in range(3)})
    with memory_bound():
        up = upload(service, archive, filename="scans.zip", target=None)
    assert up.status_code == 201 and up.json()["state"] == "validating", up.text
    source_id = up.json()["id"]
    queued = service.request_job(source_id)
    assert queued.status_code == 202, queued.text
    monkeypatch.setenv("SYNTHGEN_FAKE_FAIL_IMAGES", failure)
    service.drain()
    steward = service.headers("steward")
    source = service.client.get(f"/v1/sources/{source_id}", headers=steward).json()
    assert source["state"] == "rejected", source
    assert source["problems"] and all(str(service.settings.data_dir) not in p for p in source["problems"])
    assert not [p for p in stored_files(service) if "sources" in p.parts], "files left"
    job = service.client.get(f"/v1/jobs/{queued.json()['id']}", headers=steward).json()
    assert job["state"] == "failed" and job["epsilon_spent"] == 0.0
    again = service.request_job(source_id)
    refused(again, 409, "rejected")


# -- 2. schemas --------------------------------------------------------------------------------
ALIAS_BOMB = b"""\
version: 1
draft: false
notes:
  - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
columns:
  - {name: age, kind: integer, min: 18, max: 90}
  - {name: sex, kind: categorical, categories: [F, M]}
  - {name: bmi, kind: continuous, min: 10, max: 60}
  - {name: outcome, kind: categorical, role: label, categories: ["0", "1"]}
"""


def label_range(maximum: str) -> bytes:
    return COHORT_SCHEMA.replace(
        b'{name: outcome, kind: categorical, role: label, categories: ["0", "1"]}',
        b"{name: outcome, kind: integer, role: label, min: 0, max: " + maximum.encode() + b"}",
    )


HOSTILE_SCHEMAS = {
    "json-depth": (b"[" * 100_000, "schema.json", "nest"),
    "yaml-depth": (b"[" * 50_000, "schema.yaml", "nest"),
    "yaml-alias-bomb": (ALIAS_BOMB, "schema.yaml", "alias"),
    "range-1e308": (label_range("1.0e+308"), "schema.yaml", "classes"),
    "range-3e7": (label_range("30000000"), "schema.yaml", "classes"),
    "range-1e9": (label_range("1000000000"), "schema.yaml", "classes"),
}


# Time is bounded by the parser's caps (benchmarks/schema_limits.py prints each refusal's
# seconds); the timeout here only stops a request that hangs. Memory is asserted.
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(HOSTILE_SCHEMAS))
def test_hostile_schema_is_refused_in_bounded_time_and_memory(
    service: ServiceEnv, case: str
) -> None:
    schema, name, word = HOSTILE_SCHEMAS[case]
    with memory_bound():
        r = upload(service, cohort_csv(), schema=schema, schema_name=name)
    body = refused(r, 422, word)
    assert body["error"] == "SchemaError"
    assert str(service.settings.data_dir) not in r.text
    nothing_stored(service)


# -- 3. spreadsheet formulas -------------------------------------------------------------------
FORMULA = "=cmd|' /C calc'!A0"


def test_release_csv_neutralises_formulas_and_parquet_keeps_them(service: ServiceEnv) -> None:
    lines = ["age,sex,bmi,outcome"] + [
        f"{20 + i},{'FM'[i % 2]},{20 + i / 10:.1f},{FORMULA if i % 2 else 'ok'}" for i in range(60)
    ]
    table = pd.read_csv(io.StringIO("\n".join(lines))).to_csv(index=False).encode()
    schema = COHORT_SCHEMA.replace(
        b'categories: ["0", "1"]', b'categories: ["ok", "' + FORMULA.encode() + b'"]'
    )
    job = service.released(table, schema)
    engineer = service.headers("ml_engineer")
    csv_text = service.client.get(
        f"/v1/releases/{job['release_id']}/data", headers=engineer
    ).text
    frame = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    assert set(frame["outcome"]) == {"ok", "'" + FORMULA}
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in frame["outcome"])
    parquet = service.client.get(
        f"/v1/releases/{job['release_id']}/data?format=parquet", headers=engineer
    )
    assert set(pd.read_parquet(io.BytesIO(parquet.content))["outcome"]) == {"ok", FORMULA}


# -- 4. server paths in errors -----------------------------------------------------------------
def test_schema_errors_name_the_file_by_its_role(service: ServiceEnv) -> None:
    with memory_bound():
        r = upload(service, cohort_csv(), schema=b"columns: [ {name: age, kind: integer\n")
    refused(r, 422, "schema")
    assert str(service.settings.data_dir) not in r.text and "private" not in r.text
    nothing_stored(service)


def test_job_errors_never_show_a_server_path(
    service: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = service.ready_source(cohort_csv())
    monkeypatch.setenv("SYNTHGEN_FAKE_FAIL_WITH_PATH", "1")
    job = service.request_job(source_id)
    assert job.status_code == 202
    service.drain()
    body = service.client.get(
        f"/v1/jobs/{job.json()['id']}", headers=service.headers("steward")
    ).json()
    assert body["state"] == "failed" and body["error"], body
    assert str(service.settings.data_dir) not in body["error"] and "/private/" not in body["error"]
    assert "the source table" in body["error"]


def test_real_library_checks_name_files_by_role(tmp_path: Path) -> None:
    """The worker's checks with the real library: 'PNG' files of zeros, a broken CSV and a
    broken schema give typed errors that name no path."""
    from pipelines.library import SynthgenLibrary
    from synthgen.errors import SynthgenError

    scans = tmp_path / "scans"
    for label in ("0", "1"):
        (scans / label).mkdir(parents=True)
        for i in range(3):
            (scans / label / f"{i}.png").write_bytes(b"\0" * 1000)
    table, good, bad = tmp_path / "t.csv", tmp_path / "good.yaml", tmp_path / "bad.yaml"
    table.write_bytes(b'a,b\n"1,2\n')  # an unclosed quote
    good.write_text("columns: [{name: a}, {name: b}]\n")
    bad.write_text("columns: [\n")
    library = SynthgenLibrary()
    checks = (
        lambda: library.check_images(scans),
        lambda: library.check_table(table, schema=good, target=None),
        lambda: library.check_table(table, schema=bad, target=None),
    )
    for check in checks:
        with pytest.raises(SynthgenError) as info:
            check()
        assert str(tmp_path) not in str(info.value) and "the source" in str(info.value)


# -- 5. body and cell sizes --------------------------------------------------------------------
@pytest.fixture
def limited(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceEnv]:
    data_dir = tmp_path / "data"
    url = fresh_database(backend, request, data_dir)
    settings = make_settings(
        data_dir,
        url,
        max_upload_bytes=64 * 2**20,
        max_image_upload_bytes=20_000,
        max_csv_cell_bytes=1000,
    )
    yield from build_service(settings)


def test_one_huge_csv_cell_is_refused_while_reading(limited: ServiceEnv) -> None:
    plain = b"a,outcome\n" + b"x" * (30 * 2**20) + b",1\n"
    quoted = b'a,outcome\n"' + (b"x" * 999 + b",") * 30_000 + b'",1\n'  # commas inside quotes
    for table in (plain, quoted):
        with memory_bound():
            r = upload(limited, table)
        refused(r, 413, "cell")
    nothing_stored(limited)
    ok = upload(limited, b"a,outcome\n" + b"y" * 999 + b",1\n" + b"z,0\n")
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_scan_csv_counts_rows_and_cells_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: bytes
) -> None:
    monkeypatch.setattr(uploads, "CHUNK", 7)  # tiny chunks: cells and quotes cross them
    path = tmp_path / "t.csv"

    def scan(body: bytes, cell: int = 8, rows: int = 10) -> int | str:
        path.write_bytes(body.replace(b"\n", newline))
        try:
            return uploads.scan_csv(path, ",", max_rows=rows, max_cell_bytes=cell)
        except PayloadTooLarge as exc:
            return str(exc)

    assert scan(b"a,b\n1,2\n") == 2
    assert scan(b'a,b\n"1,2,3,4,5",2\n', cell=11) == 2  # one cell of 11 bytes, quotes included
    assert "cell" in str(scan(b'a,b\n"1,2,3,4,5,6",2\n', cell=11))
    assert "cell" in str(scan(b"a,b\n123456789,2\n"))
    assert scan(b'a,b\n"x""y,z",2\n') == 2  # an escaped quote keeps the cell open
    assert "rows" in str(scan(b"a\n" + b"1\n" * 12))


def test_parquet_that_decodes_to_a_huge_cell_is_refused(limited: ServiceEnv) -> None:
    """Compressed pages make the Parquet twin of the one-cell CSV a few hundred KB."""
    buf = io.BytesIO()
    frame = pd.DataFrame({"a": ["x" * (30 * 2**20), "y"], "outcome": [1, 0]})
    frame.to_parquet(buf, compression="zstd")
    assert buf.tell() < 2**20
    with memory_bound():
        r = upload(limited, buf.getvalue(), filename="cohort.parquet")
    refused(r, 413, "compressed")
    nothing_stored(limited)


def test_body_size_limit_per_upload_kind(limited: ServiceEnv) -> None:
    archive = zip_of({f"s/{c}/{i}.png": os.urandom(3000) for c in ("0", "1") for i in range(4)})
    with memory_bound():
        refused(upload(limited, archive, filename="s.zip", target=None), 413, "image")
    nothing_stored(limited)
    table = b"a,outcome\n" + b"1234567,1\n" * 5000  # 50 KB: over the image limit, fine for a table
    assert upload(limited, table).status_code == 201
