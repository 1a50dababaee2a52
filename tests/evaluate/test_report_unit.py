"""The report's first page names the unit of privacy: "unit: patient (entity column X, at
most k records)" for a patient-level run, "unit: record (...)" otherwise (issue 25)."""

from __future__ import annotations

from dataclasses import replace

from synthgen.evaluate.bottom_line import unit_phrase
from synthgen.evaluate.common_sections import summary_section
from synthgen.evaluate.sections import Summary
from tests.evaluate.test_bottom_line import release

TABLE_PATIENT = {"epsilon": 3.0, "delta": 1e-5, "unit": "patient", "modality": "tabular",
                 "entity_column": "subject", "max_records_per_entity": 8}
IMAGE_PATIENT = {**TABLE_PATIENT, "modality": "image", "entity_column": "dicom:PatientID",
                 "max_records_per_entity": 4}


def _first_page_privacy(certificate: dict) -> str:
    summary = summary_section(replace(release(), certificate=certificate)).blocks[0]
    assert isinstance(summary, Summary)
    return dict(summary.sentences)["Privacy"]


def test_first_page_names_the_patient_unit_for_tables_and_images() -> None:
    assert "(unit: patient (entity column subject, at most 8 records))" in _first_page_privacy(
        TABLE_PATIENT)
    assert "(unit: patient (patient ids from dicom:PatientID, at most 4 images))" in (
        _first_page_privacy(IMAGE_PATIENT))


def test_record_level_runs_say_record() -> None:
    table = {"epsilon": 3.0, "delta": 1e-5, "unit": "record",
             "unit_description": "one row of the source table"}
    assert "(unit: record (one row of the source table))" in _first_page_privacy(table)
    assert unit_phrase({"unit": "one image", "unit_description": "one image"}) == "record (one image)"
    assert unit_phrase({"unit": "one image"}) == "record (one image)"  # an older certificate
    assert unit_phrase({}) == "record"
