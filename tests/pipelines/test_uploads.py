"""Uploads: limits, type sniffing, safe archives, schema checks; a refusal keeps nothing."""

from __future__ import annotations

import gzip
import io
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from pipelines.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from pipelines.store.models import Job, Source
from pipelines.uploads import safe_extract, sniff
from tests.support.service import (
    COHORT_SCHEMA,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)


def nothing_left(env: ServiceEnv) -> None:
    """No stored file, no staging leftovers, no source row."""
    private = env.settings.private_dir
    assert not any(p.is_file() for p in (private / "blobs").rglob("*")), (
        "a refused upload left a blob"
    )
    assert not any((private / "tmp").iterdir()), "a refused upload left staging files"
    assert not any((private / "sources").iterdir())
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Source)) == 0


def zip_bytes(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


# -- sniffing and archives (units) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "filename", "expected"),
    [
        (b"a,b\n1,2\n", "x.csv", "csv"),
        (b"a\tb\n1\t2\n", "x.tsv", "tsv"),
        (b"\xef\xbb\xbfa,b\n1,2\n", "x.txt", "csv"),
        (zip_bytes({"images.npy": b"x", "labels.npy": b"y"}), "x.npz", "npz"),
        (zip_bytes({"a/1.png": b"x"}), "x.zip", "zip"),
    ],
)
def test_sniff_reads_the_type_from_the_content(
    tmp_path: Path, content: bytes, filename: str, expected: str
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert sniff(path, filename) == expected


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (gzip.compress(b"a,b\n1,2\n"), UnsupportedMediaType),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 100, UnsupportedMediaType),
        ("é".encode("latin-1") * 10 + b",x\n", UnsupportedMediaType),
        (b"", InvalidRequest),
        (b"PAR1 truncated", InvalidRequest),
    ],
)
def test_sniff_refuses_what_it_cannot_read(
    tmp_path: Path, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(error):
        sniff(path, "x.csv")


LIMITS: dict[str, Any] = {"max_members": 100, "max_total_bytes": 10 * 2**20, "max_ratio": 200.0}


@pytest.mark.parametrize(
    ("members", "symlink", "error"),
    [
        ({"../evil.png": b"x"}, None, InvalidRequest),
        ({"a/../../evil.png": b"x"}, None, InvalidRequest),
        ({"/etc/evil.png": b"x"}, None, InvalidRequest),
        ({"a\\..\\evil.png": b"x"}, None, InvalidRequest),
        ({"a/ok.png": b"x"}, "a/link.png", InvalidRequest),
        ({"bomb.png": b"\0" * (5 * 2**20)}, None, PayloadTooLarge),  # 5 MiB of zeros: ratio ~1000
        ({f"a/{i}.png": b"x" for i in range(101)}, None, PayloadTooLarge),
        ({"a/big.png": np.random.default_rng(0).bytes(11 * 2**20)}, None, PayloadTooLarge),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "symlink", "bomb", "members", "total"],
)
def test_safe_extract_refuses_and_leaves_nothing(
    tmp_path: Path, members: dict[str, bytes], symlink: str | None, error: type[Exception]
) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes(members, symlink=symlink))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(error):
        safe_extract(archive, dest, **LIMITS)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.png").exists()


def test_safe_extract_writes_plain_members(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"data/0/a.png": b"png", "data/1/b.png": b"png2"}))
    dest = tmp_path / "out"
    dest.mkdir()
    files = safe_extract(archive, dest, **LIMITS)
    assert sorted(p.relative_to(dest).as_posix() for p in files) == ["data/0/a.png", "data/1/b.png"]


# -- through the API ---------------------------------------------------------------------------
@pytest.fixture
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceEnv]:
    data_dir = tmp_path / "data"
    url = fresh_database("sqlite", request, data_dir)
    settings = make_settings(
        data_dir, url, max_upload_bytes=4000, max_schema_bytes=2000, max_rows=100, max_columns=3
    )
    yield from build_service(settings)


def test_upload_without_schema_is_ready_at_once(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    r = sqlite_service.upload(table=cohort)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "ready" and r.json()["check_job_id"] is None
    body = sqlite_service.client.get(
        f"/v1/sources/{r.json()['id']}", headers=sqlite_service.headers("steward")
    ).json()
    assert body["delta_budget"] == pytest.approx(1e-4)  # min(1e-4, 1/(2 N)) for N = 60


def test_upload_parquet(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    buf = io.BytesIO()
    pd.read_csv(io.BytesIO(cohort)).to_parquet(buf)
    r = sqlite_service.upload(table=buf.getvalue(), schema=COHORT_SCHEMA, filename="cohort.parquet")
    assert r.status_code == 201, r.text
    sqlite_service.drain()
    body = sqlite_service.client.get(
        f"/v1/sources/{r.json()['id']}", headers=sqlite_service.headers("steward")
    ).json()
    assert body["file_format"] == "parquet" and body["state"] == "ready" and body["n_records"] == 60


def test_upload_schema_mismatch_names_columns_never_values(sqlite_service: ServiceEnv) -> None:
    table = b"age,sex,bmi,outcome\n987,F,20.5,1\n40,Zorro,22.1,0\n41,M,23.0,0\n"
    r = sqlite_service.upload(table=table, schema=COHORT_SCHEMA)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "SchemaMismatch" and len(body["problems"]) == 2
    assert "'age'" in r.text and "'sex'" in r.text
    assert "987" not in r.text and "Zorro" not in r.text
    nothing_left(sqlite_service)


@pytest.mark.parametrize(
    ("table", "form", "status", "words"),
    [
        (cohort_csv(), {"target": "nope"}, 422, "not in the table"),
        (cohort_csv(), {"target": None}, 422, "target"),
        (b"age,outcome\n", {}, 422, "no rows"),
        (b"a,a,outcome\n1,2,0\n", {}, 422, "duplicate"),
        (gzip.compress(cohort_csv()), {}, 415, "gzip"),
        (b"\x00\x01\x02" * 50, {}, 415, "binary"),
        (b"", {}, 422, "empty"),
        (cohort_csv(), {"epsilon_budget": "0"}, 422, "epsilon_budget"),
        (cohort_csv(), {"epsilon_budget": "inf"}, 422, "epsilon_budget"),
        (cohort_csv(), {"delta_budget": "0.5"}, 422, "1/N"),
    ],
    ids=[
        "bad-target",
        "no-target",
        "no-rows",
        "dup-columns",
        "gzip",
        "binary",
        "empty",
        "zero-budget",
        "inf-budget",
        "delta-over-1/N",
    ],
)
def test_upload_refusals_keep_nothing(
    sqlite_service: ServiceEnv, table: bytes, form: dict[str, object], status: int, words: str
) -> None:
    target = form.pop("target", "outcome")
    budget = form.pop("epsilon_budget", 10.0)
    r = sqlite_service.upload(table=table, target=target, epsilon_budget=budget, **form)  # type: ignore[arg-type]
    assert r.status_code == status, r.text
    assert words in r.text
    nothing_left(sqlite_service)


def test_upload_draft_schema_is_refused(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    r = sqlite_service.upload(
        table=cohort, schema=COHORT_SCHEMA.replace(b"draft: false", b"draft: true")
    )
    assert r.status_code == 422 and "draft" in r.json()["detail"]
    nothing_left(sqlite_service)


def test_upload_bad_schema_file_is_refused(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    r = sqlite_service.upload(table=cohort, schema=b"columns: [ {name: age, kind: nonsense} ]")
    assert r.status_code == 422 and r.json()["error"] == "SchemaError"
    nothing_left(sqlite_service)


def test_upload_limits(limited: ServiceEnv) -> None:
    big = limited.upload(
        table=b"a,b,outcome\n" + (b"x" * 100 + b",2,0\n") * 50
    )  # 5 KB > 4000 bytes
    assert big.status_code == 413 and "limit" in big.json()["detail"]
    rows = limited.upload(table=b"a,b,outcome\n" + b"1,2,0\n" * 101)
    assert rows.status_code == 413 and "rows" in rows.json()["detail"]
    cols = limited.upload(table=b"a,b,c,outcome\n1,2,3,0\n")
    assert cols.status_code == 413 and "columns" in cols.json()["detail"]
    schema = limited.upload(table=b"a,b,outcome\n1,2,0\n", schema=b"#" * 3000)
    assert schema.status_code == 413 and "schema" in schema.json()["detail"]
    body = limited.upload(table=b"a,b,outcome\n" + b"1,2,0\n" * 20000)  # over the whole-request cap
    assert body.status_code == 413
    nothing_left(limited)
    assert limited.upload(table=b"a,b,outcome\n1,2,0\n3,4,1\n").status_code == 201


def test_upload_rejected_by_the_expectation_suite(
    sqlite_service: ServiceEnv, cohort: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker-side suite refuses: the source is rejected, its files deleted, a job
    queued on it meanwhile fails without spending anything."""
    monkeypatch.setenv("SYNTHGEN_FAKE_REJECT_SOURCE", "1")
    up = sqlite_service.upload(table=cohort, schema=COHORT_SCHEMA)
    assert up.status_code == 201 and up.json()["state"] == "validating"
    source_id = up.json()["id"]
    job = sqlite_service.request_job(source_id)
    assert job.status_code == 202
    sqlite_service.drain()
    steward = sqlite_service.headers("steward")
    source = sqlite_service.client.get(f"/v1/sources/{source_id}", headers=steward).json()
    assert source["state"] == "rejected" and source["problems"] == [
        "column 'age': 3 rows out of bounds"
    ]
    check = sqlite_service.client.get(
        f"/v1/jobs/{up.json()['check_job_id']}", headers=steward
    ).json()
    assert check["state"] == "failed" and "expectation suite" in check["error"]
    failed = sqlite_service.client.get(f"/v1/jobs/{job.json()['id']}", headers=steward).json()
    assert failed["state"] == "failed" and failed["epsilon_spent"] == 0.0
    ledger = sqlite_service.client.get(f"/v1/sources/{source_id}/ledger", headers=steward).json()
    assert ledger["epsilon_spent"] == 0.0 and ledger["epsilon_reserved"] == 0.0
    assert not any(p.is_file() for p in (sqlite_service.settings.private_dir / "blobs").rglob("*"))
    assert sqlite_service.request_job(source_id).status_code == 409


def test_upload_images(sqlite_service: ServiceEnv) -> None:
    buf = io.BytesIO()
    np.savez(buf, images=np.zeros((12, 8, 8), dtype=np.uint8), labels=np.array([0, 1] * 6))
    r = sqlite_service.upload(table=buf.getvalue(), target=None, filename="scans.npz")
    assert r.status_code == 201, r.text
    steward = sqlite_service.headers("steward")
    body = sqlite_service.client.get(f"/v1/sources/{r.json()['id']}", headers=steward).json()
    assert body["modality"] == "image" and body["n_records"] == 12 and body["file_format"] == "npz"

    archive = zip_bytes(
        {f"scans/{c}/{i}.png": b"not really a png" for c in ("0", "1") for i in range(3)}
    )
    z = sqlite_service.upload(table=archive, target=None, filename="scans.zip")
    assert z.status_code == 201, z.text
    with sqlite_service.db.session() as session:
        source = session.get(Source, z.json()["id"])
        assert source is not None and source.data_ref is not None
        assert source.data_ref.endswith("/scans") and source.n_records == 6
        assert (
            sqlite_service.app.state.services.store.resolve(source.data_ref)
            .joinpath("0", "1.png")
            .exists()
        )

    bad = sqlite_service.upload(
        table=np.zeros(3).tobytes() + zip_bytes({"x.npy": b"1"}), target=None, filename="a.npz"
    )
    assert bad.status_code in (415, 422)
    npz_wrong_keys = io.BytesIO()
    np.savez(npz_wrong_keys, pixels=np.zeros((2, 8, 8)))
    wrong = sqlite_service.upload(table=npz_wrong_keys.getvalue(), target=None, filename="w.npz")
    assert wrong.status_code == 422 and "'images'" in wrong.json()["detail"]


def test_upload_image_archive_with_traversal_keeps_nothing(sqlite_service: ServiceEnv) -> None:
    r = sqlite_service.upload(
        table=zip_bytes({"0/a.png": b"x", "../../escape.png": b"x"}), target=None, filename="x.zip"
    )
    assert r.status_code == 422 and ".." in r.json()["detail"]
    nothing_left(sqlite_service)
    with sqlite_service.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
