"""A patient-level image job through the service with the real library (issue 25): a zip
of ``class/patient/image.png`` folders uploaded with ``entity: folder``, a DP job (tiny
recipe, 3 steps), and a certificate and report that say the unit is a patient."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.test_image_jobs import get
from tests.support.service import build_service, fresh_database, make_settings


def patient_pngs_zip(*, patients_per_class: int = 12, seed: int = 0) -> bytes:
    """Two classes (dark and bright 8x8 images), 1 to 4 images per patient."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, level in (("benign", 50), ("malignant", 190)):
            for p in range(patients_per_class):
                for i in range(int(rng.integers(1, 5))):
                    pixels = np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype(np.uint8)
                    png = io.BytesIO()
                    Image.fromarray(pixels).save(png, format="PNG")
                    zf.writestr(f"scans/{name}/{name}-{p}/{i}.png", png.getvalue())
    return buf.getvalue()


@pytest.mark.slow
def test_patient_level_image_job_certifies_a_patient(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.evaluate.images import inputs
    from tests.evaluate.image_builders import FAST, TINY_RECIPE

    monkeypatch.setattr(inputs, "DEFAULT_OPTIONS", FAST)  # a few CNN steps: same protocol
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir,
        fresh_database("sqlite", request, data_dir),
        library="pipelines.library:SynthgenLibrary",
        train_max_steps=3,
        image_train_overrides=TINY_RECIPE,
    )
    for service in build_service(settings):
        up = service.upload(
            table=patient_pngs_zip(),
            target=None,
            filename="scans.zip",
            entity="folder",
            max_records_per_entity=3,
        )
        assert up.status_code == 201, up.text
        service.drain()
        source_id = up.json()["id"]
        job = service.request_job(source_id, epsilon=8.0, rows=16)
        assert job.status_code == 202, job.text
        service.drain()
        status = get(service, f"/v1/jobs/{job.json()['id']}").json()
        assert status["state"] == "succeeded", status["error"]

        release_id = status["release_id"]
        certificate = get(service, f"/v1/releases/{release_id}/certificate").json()
        assert certificate["unit"] == "patient"
        assert certificate["max_records_per_entity"] == 3
        assert "patient" in certificate["adjacency"]
        assert certificate["steps"] == 3 and 0 < certificate["epsilon"] <= 8.0
        ledger = get(service, f"/v1/sources/{source_id}/ledger").json()
        assert ledger["entries"][0]["delta_reserved"] >= certificate["delta"]
        assert ledger["epsilon_spent"] == pytest.approx(certificate["epsilon"])
        html = get(service, f"/v1/releases/{release_id}/report").text
        assert "unit: patient" in html
