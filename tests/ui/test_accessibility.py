"""Every console page: each form control has a label a screen reader announces, the page
has one h1 and a main landmark, and every button has a name."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.support.service import COHORT_SCHEMA, ServiceEnv
from tests.ui.conftest import signed_in


class Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.labels_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.in_label = 0
        self.h1 = 0
        self.main = False
        self.buttons: list[str] = []
        self._button: list[str] | None = None
        self._button_attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.labels_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({**a, "wrapped": "yes" if self.in_label else None})
        elif tag == "h1":
            self.h1 += 1
        elif tag == "main":
            self.main = True
        elif tag == "button":
            self._button, self._button_attrs = [], a

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        elif tag == "button" and self._button is not None:
            name = self._button_attrs.get("aria-label") or "".join(self._button).strip()
            self.buttons.append(name or "")
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)


def check(html: str, where: str) -> None:
    parsed = Controls()
    parsed.feed(html)
    assert parsed.h1 == 1 and parsed.main, where
    for control in parsed.controls:
        labelled = (
            control.get("wrapped")
            or control.get("aria-label")
            or (control.get("id") and control["id"] in parsed.labels_for)
        )
        assert labelled, f"{where}: unlabelled control {control}"
    assert all(parsed.buttons), f"{where}: a button without a name"


def test_every_page_labels_its_controls(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    env = sqlite_service
    job = env.released(cohort, COHORT_SCHEMA, approve=False)
    raw_source = env.ready_source(cohort, name="raw")
    release = job["release_id"]
    pages = {
        "steward": [
            "/ui/sources",
            f"/ui/sources/{job['source_id']}",
            f"/ui/sources/{raw_source}/schema",
            f"/ui/jobs/{job['id']}",
            f"/ui/releases/{release}",
            "/ui/releases",
        ],
        "auditor": ["/ui/audit", f"/ui/releases/{release}", f"/ui/sources/{job['source_id']}"],
        "admin": ["/ui/admin"],
    }
    for role, paths in pages.items():
        client = signed_in(env, role)
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (role, path)
            check(response.text, f"{role} {path}")
    anonymous = signed_in(env, "ml_engineer")
    check(anonymous.get("/ui/sources").text, "a refusal page")
    from fastapi.testclient import TestClient

    check(TestClient(env.app).get("/ui/login").text, "sign-in")


def test_check_catches_an_unlabelled_control() -> None:
    import pytest

    with pytest.raises(AssertionError, match="unlabelled"):
        check('<main><h1>x</h1><input id="a" name="a"></main>', "a bad page")
    with pytest.raises(AssertionError, match="button"):
        check("<main><h1>x</h1><button></button></main>", "a bad page")
