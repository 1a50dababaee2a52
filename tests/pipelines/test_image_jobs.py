"""Image jobs through the service: upload (npz or zip of class folders), train, sample,
validate, report, approve, download (npz or PNG zip), more samples without budget.

The fast tests use the fake ML library (tests/support/fakes.py); one slow test runs the
real library (tiny recipe, a few DP steps) on a BreastMNIST subset, in-process."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.store.models import Job
from synthgen.requests import TrainRequest
from tests.support.fakes import EPSILON_USED
from tests.support.service import ServiceEnv, build_service, fresh_database, make_settings


def npz_bytes(n: int = 40, *, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    np.savez(buf, images=rng.integers(0, 256, (n, 8, 8), dtype=np.uint8),
             labels=np.arange(n) % 2)
    return buf.getvalue()


def png_bytes(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def class_folders_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, value in (("benign", 40), ("malignant", 200)):
            for i in range(6):
                zf.writestr(f"scans/{name}/{i}.png", png_bytes(value + i))
    return buf.getvalue()


def ready_image_source(service: ServiceEnv, data: bytes, filename: str, budget: float = 10.0) -> str:
    up = service.upload(table=data, target=None, filename=filename, epsilon_budget=budget)
    assert up.status_code == 201, up.text
    assert up.json()["state"] == "validating"  # image sources are checked by a worker
    service.drain()
    source = get(service, f"/v1/sources/{up.json()['id']}").json()
    assert source["modality"] == "image" and source["state"] == "ready", source
    return str(up.json()["id"])


def get(service: ServiceEnv, path: str, role: str = "steward") -> Any:
    return service.client.get(path, headers=service.headers(role))


def more_images(service: ServiceEnv, release_id: str, body: dict[str, Any]) -> np.ndarray:
    """The images of a sample job on an approved release (run to completion)."""
    job = service.client.post(f"/v1/releases/{release_id}/samples", json=body,
                              headers=service.headers("ml_engineer"))
    assert job.status_code == 202, job.text
    service.drain()
    done = get(service, f"/v1/jobs/{job.json()['id']}", "ml_engineer").json()
    assert done["state"] == "succeeded", done
    data = get(service, f"/v1/releases/{done['release_id']}/data", "ml_engineer")
    with np.load(io.BytesIO(data.content)) as arrays:
        return np.asarray(arrays["images"])


# -- the flow, on the fake library ----------------------------------------------------------------
def test_image_job_trains_samples_validates_and_releases(sqlite_service: ServiceEnv) -> None:
    service = sqlite_service
    source_id = ready_image_source(service, npz_bytes(), "scans.npz")

    job = service.request_job(source_id, epsilon=2.0, rows=30)
    assert job.status_code == 202, job.text  # image jobs are no longer refused with 503
    ledger = get(service, f"/v1/sources/{source_id}/ledger").json()
    assert ledger["epsilon_reserved"] == 2.0 and ledger["epsilon_spent"] == 0.0

    assert service.drain() == 1
    status = get(service, f"/v1/jobs/{job.json()['id']}").json()
    assert status["state"] == "succeeded", status
    assert status["modality"] == "image" and status["stage"] == "report"
    assert status["epsilon_spent"] == pytest.approx(2.0 * EPSILON_USED)
    ledger = get(service, f"/v1/sources/{source_id}/ledger").json()
    assert ledger["epsilon_reserved"] == 0.0
    assert ledger["epsilon_spent"] == pytest.approx(2.0 * EPSILON_USED)

    release_id = status["release_id"]
    release = get(service, f"/v1/releases/{release_id}").json()
    assert release["modality"] == "image" and release["n_records"] == 30
    assert release["verdict"] == "pass" and release["state"] == "pending"
    assert get(service, f"/v1/releases/{release_id}/report").status_code == 200
    assert get(service, f"/v1/releases/{release_id}/report?format=json", "auditor").json()["verdict"] == "pass"
    assert get(service, f"/v1/releases/{release_id}/report", "ml_engineer").status_code == 403
    assert get(service, f"/v1/releases/{release_id}/data", "ml_engineer").status_code == 404  # not approved
    approved = service.client.post(f"/v1/releases/{release_id}/approve", json={"reason": "ok"},
                                   headers=service.headers("steward"))
    assert approved.status_code == 200, approved.text

    npz = get(service, f"/v1/releases/{release_id}/data", "ml_engineer")  # npz by default
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/octet-stream"
    assert npz.headers["content-disposition"].endswith('.npz"')
    with np.load(io.BytesIO(npz.content)) as data:
        assert data["images"].shape == (30, 8, 8) and data["images"].dtype == np.uint8
        assert data["labels"].shape == (30, 1)
    png = get(service, f"/v1/releases/{release_id}/data?format=png_zip", "ml_engineer")
    assert png.status_code == 200 and png.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(png.content)) as zf:
        names = zf.namelist()
        assert len(names) == 30 and {n.split("/")[0] for n in names} <= {"0", "1"}
        assert zf.read(names[0])[:8] == b"\x89PNG\r\n\x1a\n"
    csv = get(service, f"/v1/releases/{release_id}/data?format=csv", "ml_engineer")
    assert csv.status_code == 422 and "npz, png_zip" in csv.json()["detail"]

    # more samples from the approved image model: post-processing, no ledger entry
    more = service.client.post(
        f"/v1/releases/{release_id}/samples",
        json={"rows": 12, "seed": 5, "class_counts": {"0": 4, "1": 8}, "guidance_scale": 2.0},
        headers=service.headers("ml_engineer"),
    )
    assert more.status_code == 202, more.text
    assert service.drain() == 1
    more_job = get(service, f"/v1/jobs/{more.json()['id']}", "ml_engineer").json()
    assert more_job["state"] == "succeeded", more_job
    child = get(service, f"/v1/releases/{more_job['release_id']}", "ml_engineer").json()
    assert child["state"] == "approved" and child["parent_id"] == release_id
    assert child["modality"] == "image" and child["n_records"] == 12
    data = get(service, f"/v1/releases/{child['id']}/data", "ml_engineer")
    with np.load(io.BytesIO(data.content)) as arrays:
        assert np.bincount(arrays["labels"].reshape(-1)).tolist() == [4, 8]
    after = get(service, f"/v1/sources/{source_id}/ledger").json()
    assert len(after["entries"]) == 1 and after["epsilon_spent"] == ledger["epsilon_spent"]


def test_image_job_from_a_zip_of_class_folders(sqlite_service: ServiceEnv) -> None:
    source_id = ready_image_source(sqlite_service, class_folders_zip(), "scans.zip")
    job = sqlite_service.request_job(source_id, epsilon=1.0, rows=8,
                                     class_counts={"malignant": 5, "benign": 3})
    assert job.status_code == 202, job.text
    sqlite_service.drain()
    status = get(sqlite_service, f"/v1/jobs/{job.json()['id']}").json()
    assert status["state"] == "succeeded", status
    data = get(sqlite_service, f"/v1/releases/{status['release_id']}/data")
    with np.load(io.BytesIO(data.content)) as arrays:
        # class indices follow the sorted folder names: benign 0, malignant 1
        assert np.bincount(arrays["labels"].reshape(-1)).tolist() == [3, 5]


def test_image_jobs_take_the_image_trainer_options(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """TRAIN_OVERRIDES are table trainer keys; image jobs get IMAGE_TRAIN_OVERRIDES."""
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir, fresh_database("sqlite", request, data_dir),
        train_overrides={"embedding_dim": 64}, image_train_overrides={"batch_size": 32},
    )
    for service in build_service(settings):
        source_id = ready_image_source(service, npz_bytes(), "scans.npz")
        job_id = service.request_job(source_id).json()["id"]
        with service.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            assert job.spec["kind"] == "synthesize_image"
            assert job.spec["training"]["overrides"] == {"batch_size": 32}


def test_image_job_keeps_candidates_and_refuses_them_without_a_critic(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, fresh_database("sqlite", request, data_dir),
                             image_train_overrides={"critic_epsilon_share": 0})
    for service in build_service(settings):
        source_id = ready_image_source(service, npz_bytes(), "scans.npz")
        refused = service.request_job(source_id, candidates=3)
        assert refused.status_code == 422 and "class critic" in refused.text
        refused = service.request_job(source_id, critic_guidance=0.5)
        assert refused.status_code == 422 and "class critic" in refused.text
        assert get(service, f"/v1/sources/{source_id}/ledger").json()["entries"] == []
        job_id = service.request_job(source_id, candidates=1, critic_guidance=0).json()["id"]
        with service.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.spec["candidates"] == 1
            assert job.spec["critic_guidance"] == 0
        too_many = service.request_job(source_id, candidates=65)
        assert too_many.status_code == 422


def test_image_job_over_budget_is_refused_before_anything_runs(sqlite_service: ServiceEnv) -> None:
    source_id = ready_image_source(sqlite_service, npz_bytes(), "scans.npz", budget=1.0)
    refused = sqlite_service.request_job(source_id, epsilon=1.5)
    assert refused.status_code == 409, refused.text
    assert get(sqlite_service, f"/v1/sources/{source_id}/ledger").json()["entries"] == []


# -- the real library's ledger reading for image runs -------------------------------------------
@pytest.mark.slow
def test_spent_epsilon_of_an_interrupted_image_run(tmp_path: Path) -> None:
    """The image trainer keeps its accountant in its checkpoints and logs epsilon after
    every step: a job stopped mid-training is charged what ran, not zero."""
    from pipelines.library import SynthgenLibrary
    from synthgen.errors import TrainingCancelled
    from synthgen.images.train import train_images
    from tests.evaluate.image_builders import TINY_RECIPE, breastmnist_subset

    source = breastmnist_subset(tmp_path / "source", n_train=48, n_val=16, n_test=16)
    library, private = SynthgenLibrary(), tmp_path / "run"
    assert library.spent_epsilon(private, delta=1e-5) is None  # nothing ran
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    with pytest.raises(TrainingCancelled) as stopped:
        train_images(TrainRequest(
            source=source, epsilon=5.0, delta=1e-5, out=tmp_path / "model", max_steps=10,
            private_dir=private, overrides={**TINY_RECIPE, "checkpoint_every": 2},
        ), should_stop=stop_after_three)
    spent = library.spent_epsilon(private, delta=1e-5)
    assert spent is not None and 0 < spent < 5.0
    assert spent == pytest.approx(stopped.value.epsilon_spent, rel=1e-6)
    log = private / "training_log.jsonl"
    log.write_text(log.read_text() + '{"step": 4, "eps')  # a worker killed mid-line
    assert library.spent_epsilon(private, delta=1e-5) == pytest.approx(spent, rel=1e-6)


# -- the real library, end to end ---------------------------------------------------------------
@pytest.mark.slow
def test_real_image_job_end_to_end(request: pytest.FixtureRequest, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload a BreastMNIST subset, a DP job at epsilon 5 with the real trainer (tiny recipe,
    3 steps), the real sampler and validation; approve; download; more samples."""
    from synthgen.evaluate.images import inputs
    from tests.evaluate.image_builders import FAST, TINY_RECIPE, breastmnist_subset

    monkeypatch.setattr(inputs, "DEFAULT_OPTIONS", FAST)  # a few CNN steps: same protocol
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir, fresh_database("sqlite", request, data_dir),
        library="pipelines.library:SynthgenLibrary", train_max_steps=3,
        image_train_overrides=TINY_RECIPE,
    )
    source = breastmnist_subset(tmp_path / "source", n_train=64, n_val=24, n_test=24)
    for service in build_service(settings):
        source_id = ready_image_source(service, source.read_bytes(), "breastmnist_subset.npz")
        job = service.request_job(source_id, epsilon=5.0, rows=120)
        assert job.status_code == 202, job.text
        service.drain()
        status = get(service, f"/v1/jobs/{job.json()['id']}").json()
        assert status["state"] == "succeeded", status
        release_id = status["release_id"]
        certificate = get(service, f"/v1/releases/{release_id}/certificate").json()
        assert certificate["modality"] == "image" and certificate["unit"] == "one image"
        assert certificate["steps"] == 3 and 0 < certificate["epsilon"] <= 5.0
        ledger = get(service, f"/v1/sources/{source_id}/ledger").json()
        assert ledger["entries"][0]["state"] == "settled"
        assert ledger["epsilon_spent"] == pytest.approx(certificate["epsilon"])
        assert status["epsilon_spent"] == pytest.approx(certificate["epsilon"])

        report = get(service, f"/v1/releases/{release_id}/report?format=json", "auditor").json()
        assert report["modality"] == "image" and report["verdict"] in ("pass", "warn")
        assert report["verdict"] == get(service, f"/v1/releases/{release_id}").json()["verdict"]
        html = get(service, f"/v1/releases/{release_id}/report").text
        assert "Real and synthetic images, per class" in html
        pdf = get(service, f"/v1/releases/{release_id}/report?format=pdf", "auditor")
        assert pdf.content[:5] == b"%PDF-"

        assert service.client.post(f"/v1/releases/{release_id}/approve", json={"reason": "ok"},
                                   headers=service.headers("steward")).status_code == 200
        npz = get(service, f"/v1/releases/{release_id}/data", "ml_engineer")
        with np.load(io.BytesIO(npz.content)) as data:
            assert data["images"].shape == (120, 28, 28) and data["images"].dtype == np.uint8
        png = get(service, f"/v1/releases/{release_id}/data?format=png_zip", "ml_engineer")
        with zipfile.ZipFile(io.BytesIO(png.content)) as zf:
            assert len(zf.namelist()) == 120

        more = service.client.post(f"/v1/releases/{release_id}/samples",
                                   json={"rows": 10, "seed": 2, "class_counts": {"0": 4, "1": 6}},
                                   headers=service.headers("ml_engineer"))
        assert more.status_code == 202, more.text
        service.drain()
        child_job = get(service, f"/v1/jobs/{more.json()['id']}", "ml_engineer").json()
        assert child_job["state"] == "succeeded", child_job
        child = get(service, f"/v1/releases/{child_job['release_id']}/data", "ml_engineer")
        with np.load(io.BytesIO(child.content)) as data:
            assert np.bincount(data["labels"].reshape(-1)).tolist() == [4, 6]

        # candidates=2 draws [8, 12] images and keeps 4 + 6: its images are among the
        # [8, 12] drawn by candidates=1 with the same seed (sample i depends on seed and i)
        chosen = more_images(service, release_id, {"rows": 10, "seed": 2, "candidates": 2,
                                                   "class_counts": {"0": 4, "1": 6}})
        drawn = more_images(service, release_id, {"rows": 20, "seed": 2, "candidates": 1,
                                                  "class_counts": {"0": 8, "1": 12}})
        drawn_rows = {image.tobytes() for image in drawn}
        assert len(chosen) == 10 and all(image.tobytes() in drawn_rows for image in chosen)
        # the critic guides the sampler by default (scale 1); critic_guidance 0 samples plainly
        plain = more_images(service, release_id, {"rows": 20, "seed": 2, "candidates": 1,
                                                  "critic_guidance": 0,
                                                  "class_counts": {"0": 8, "1": 12}})
        assert plain.shape == drawn.shape and not np.array_equal(plain, drawn)
        after = get(service, f"/v1/sources/{source_id}/ledger").json()
        assert len(after["entries"]) == 1 and math.isclose(after["epsilon_spent"], ledger["epsilon_spent"])
        assert status["error"] is None
