"""An image source's patient id source through the service (issue 25): declared with the
upload (``entity``, ``max_records_per_entity``), checked once, copied into each job's spec,
handed to the trainer; the ledger reserves a patient-level job's delta. On the fake ML
library (the real trainer: tests/pipelines/test_image_patient_job.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from pipelines.jobs import PATIENT_DELTA_RESERVATION, _declares_entity
from pipelines.store.models import Job, Source
from tests.pipelines.test_image_jobs import class_folders_zip, npz_bytes, png_bytes
from tests.support.service import ServiceEnv, cohort_csv


def patient_folders_zip(patients_per_class: int = 4, images_per_patient: int = 3) -> bytes:
    """``scans/<class>/<patient>/<i>.png``: the layout ``entity: folder`` reads."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, value in (("benign", 40), ("malignant", 200)):
            for p in range(patients_per_class):
                for i in range(images_per_patient):
                    zf.writestr(f"scans/{name}/{name}-p{p}/{i}.png", png_bytes(value + p + i))
    return buf.getvalue()


def dicom_like_zip() -> bytes:
    """An archive the upload reads as DICOM (the suffix decides at upload time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            zf.writestr(f"scans/{i}.dcm", b"\0" * 200)
        zf.writestr("scans/labels.csv", "file,label\n0.dcm,a\n1.dcm,b\n2.dcm,a\n3.dcm,b\n")
    return buf.getvalue()


def upload_images(service: ServiceEnv, data: bytes, filename: str, **form: object) -> object:
    return service.upload(table=data, target=None, filename=filename, **form)


def test_patient_level_image_source_reaches_the_trainer(sqlite_service: ServiceEnv) -> None:
    service = sqlite_service
    up = upload_images(
        service, patient_folders_zip(), "scans.zip", entity=" folder ", max_records_per_entity=2
    )
    assert up.status_code == 201, up.text
    service.drain()
    source_id = up.json()["id"]
    source = service.client.get(
        f"/v1/sources/{source_id}", headers=service.headers("steward")
    ).json()
    assert source["state"] == "ready", source
    assert source["entity"] == "folder" and source["max_records_per_entity"] == 2

    job = service.request_job(source_id, epsilon=2.0, rows=20)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    # the patient count is unknown to the service: the reservation bounds the trainer's
    # min(1e-5, 1/(10 patients)), not the image-count default
    ledger = service.client.get(
        f"/v1/sources/{source_id}/ledger", headers=service.headers("steward")
    )
    assert ledger.json()["delta_reserved"] == PATIENT_DELTA_RESERVATION
    with service.app.state.services.db.transaction() as session:
        spec = session.get(Job, job_id).spec
        # (with 24 images both reservations are 1e-5: the rule is checked on the row)
        assert _declares_entity(session.get(Source, source_id), None)
    assert spec["entity"] == "folder" and spec["max_records_per_entity"] == 2

    service.drain()
    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["state"] == "succeeded", status
    run = service.settings.private_dir / "runs" / job_id / "attempts.jsonl"
    attempt = json.loads(run.read_text().splitlines()[0])
    assert attempt["entity"] == "folder" and attempt["cap"] == 2


def test_record_level_image_source_has_no_entity(sqlite_service: ServiceEnv) -> None:
    service = sqlite_service
    up = upload_images(service, patient_folders_zip(), "scans.zip")
    assert up.status_code == 201, up.text
    service.drain()
    job = service.request_job(up.json()["id"], epsilon=2.0, rows=20)
    assert job.status_code == 202, job.text
    service.drain()
    run = service.settings.private_dir / "runs" / job.json()["id"] / "attempts.jsonl"
    attempt = json.loads(run.read_text().splitlines()[0])
    assert attempt["entity"] is None and attempt["cap"] is None
    with service.app.state.services.db.transaction() as session:
        assert not _declares_entity(session.get(Source, up.json()["id"]), None)


@pytest.mark.parametrize(
    ("data", "filename", "form", "message"),
    [
        (patient_folders_zip(), "scans.zip", {"entity": "patient"}, "dicom:KEYWORD"),
        (patient_folders_zip(), "scans.zip", {"entity": "dicom:"}, "csv:COLUMN or folder"),
        (
            patient_folders_zip(),
            "scans.zip",
            {"entity": "dicom:PatientID"},
            "applies to DICOM sources",
        ),
        (dicom_like_zip(), "scans.zip", {"entity": "folder"}, "takes dicom:KEYWORD"),
        (npz_bytes(), "scans.npz", {"entity": "folder"}, "an .npz source has no patient ids"),
        (class_folders_zip(), "scans.zip", {"entity": "folder"}, "class/patient/image.png"),
        (
            patient_folders_zip(),
            "scans.zip",
            {"max_records_per_entity": 3},
            "needs a patient id source",
        ),
        (
            patient_folders_zip(),
            "scans.zip",
            {"entity": "folder", "max_records_per_entity": 0},
            "max_records_per_entity",
        ),
    ],
)
def test_a_bad_patient_id_source_is_refused_with_a_message(
    sqlite_service: ServiceEnv, data: bytes, filename: str, form: dict[str, object], message: str
) -> None:
    response = upload_images(sqlite_service, data, filename, **form)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    listed = sqlite_service.client.get("/v1/sources", headers=sqlite_service.headers("steward"))
    assert listed.json() == []  # nothing was kept


def test_a_table_names_its_patient_column_in_its_schema(sqlite_service: ServiceEnv) -> None:
    response = sqlite_service.upload(table=cohort_csv(), entity="csv:patient")
    assert response.status_code == 422, response.text
    assert "role: entity" in response.json()["detail"]


def test_a_patient_level_image_job_refuses_the_class_critic(sqlite_service: ServiceEnv) -> None:
    service = sqlite_service
    up = upload_images(service, patient_folders_zip(), "scans.zip", entity="folder")
    assert up.status_code == 201, up.text
    service.drain()
    job = service.request_job(up.json()["id"], epsilon=2.0, rows=20, candidates=4)
    assert job.status_code == 422 and "patient-level" in job.json()["detail"], job.text


def test_python_client_and_cli_upload_take_the_patient_id_source(
    sqlite_service: ServiceEnv, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from api.client import ClientError, SynthgenClient
    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app
    from tests.support.live import LiveServer

    archive = tmp_path / "scans.zip"
    archive.write_bytes(patient_folders_zip())
    key = sqlite_service.key("steward")
    with LiveServer(sqlite_service.app) as server:
        with SynthgenClient(server.url, key) as steward:
            created = steward.upload_source(
                archive, name="scans", epsilon_budget=5, entity="folder", max_records_per_entity=2
            )
            source = steward.source(created["id"])
            assert source["entity"] == "folder" and source["max_records_per_entity"] == 2
            with pytest.raises(ClientError) as refused:
                steward.upload_source(archive, name="x", epsilon_budget=5, entity="csv:")
            assert refused.value.status == 422 and "csv:COLUMN" in refused.value.detail
        result = CliRunner().invoke(
            app,
            [
                "client",
                "--url",
                server.url,
                "--key",
                key,
                "upload",
                str(archive),
                "--name",
                "s2",
                "--epsilon-budget",
                "5",
                "--entity",
                "folder",
                "--max-records-per-entity",
                "3",
            ],
        )
        assert result.exit_code == 0, result.output
        source_id = result.stdout.strip().splitlines()[-1]
        with SynthgenClient(server.url, key) as steward:
            assert steward.source(source_id)["max_records_per_entity"] == 3
