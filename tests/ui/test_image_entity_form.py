"""The console's upload form takes an image source's patient id source (issue 25) and the
source page states the unit; a bad one is refused with the reason."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient

from tests.api.test_image_entity import patient_folders_zip
from tests.support.service import ServiceEnv
from tests.ui.conftest import page_token, signed_in


def _upload_zip(client: TestClient, **fields: str) -> object:
    token = page_token(client, "/ui/sources")
    files = {
        "file": ("scans.zip", io.BytesIO(patient_folders_zip()), "application/zip"),
        "schema": ("", io.BytesIO(b""), "application/octet-stream"),
    }
    data = {"name": "scans", "epsilon_budget": "10", "csrf_token": token, "target": ""}
    return client.post("/ui/sources", data={**data, **fields}, files=files, follow_redirects=False)


def test_upload_form_declares_the_patient_id_source(sqlite_service: ServiceEnv) -> None:
    steward = signed_in(sqlite_service, "steward")
    form = steward.get("/ui/sources").text
    assert 'id="entity" name="entity"' in form and 'id="max_records_per_entity"' in form
    response = _upload_zip(steward, entity="folder", max_records_per_entity="3")
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    location = response.headers["location"]  # type: ignore[attr-defined]
    source_id = location.rsplit("/", 1)[1]
    source = sqlite_service.client.get(
        f"/v1/sources/{source_id}", headers=sqlite_service.headers("steward")
    ).json()
    assert source["entity"] == "folder" and source["max_records_per_entity"] == 3
    assert "unit: patient (ids from folder, at most 3 images each)" in steward.get(location).text


def test_upload_form_without_an_id_source_is_record_level(sqlite_service: ServiceEnv) -> None:
    steward = signed_in(sqlite_service, "steward")
    response = _upload_zip(steward, entity="", max_records_per_entity="")
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    page = steward.get(response.headers["location"]).text  # type: ignore[attr-defined]
    assert "unit: patient" not in page


def test_upload_form_refuses_a_bad_id_source(sqlite_service: ServiceEnv) -> None:
    steward = signed_in(sqlite_service, "steward")
    response = _upload_zip(steward, entity="dicom:PatientID")
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert "applies to DICOM sources" in response.text  # type: ignore[attr-defined]
