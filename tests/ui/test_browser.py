"""The console in headless Chromium, on SQLite and PostgreSQL: a steward uploads the
Cleveland heart table, accepts its schema, requests a dataset, watches it finish and
approves it; an ML engineer downloads it; an auditor reads the report and filters the
audit log; each role is refused what it may not do. Then the schema review of a table
whose draft proposes rules, with a refused form that comes back as typed. Screenshots of
each page go to $SYNTHGEN_UI_SCREENSHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import ServiceEnv
from tests.ui.browser import browser_missing, chromium, served, status_with_session, wait_for
from tests.ui.conftest import HEART, LIVER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]


class Console:
    def __init__(self, driver: Any, base: str, shots: Path, prefix: str) -> None:
        self.driver, self.base, self.shots, self.prefix = driver, base, shots, prefix
        self.count = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        """The element's text; "" while the page is being replaced (the job page reloads
        itself when the job ends)."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )

        try:
            return str(self.find(css).text)
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def shot(self, name: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.shots / f"{self.prefix}{self.count:02d}-{name}.png"))

    def sign_in(self, key: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/ui/login")
        self.find("#key").send_keys(key)
        self.find("form.card button[type=submit]").click()
        wait_for(lambda: "/ui/login" not in self.driver.current_url, what="sign-in")

    def refused(self, path: str) -> None:
        """The page says the role may not, and the request answers 403."""
        self.open(path)
        assert "Not allowed for your role" in self.driver.page_source, path
        assert status_with_session(self.driver, self.base + path) == 403, path


def _saved_schema(env: ServiceEnv, source_id: str) -> Any:
    from pipelines.store.models import Source
    from synthgen.tabular.schema import Schema

    with env.db.session() as session:
        ref = session.get(Source, source_id).schema_ref  # type: ignore[union-attr]
    return Schema.load(env.app.state.services.store.resolve(ref))


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SYNTHGEN_UI_SCREENSHOTS", tmp_path / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_console_story_in_chromium(
    service: ServiceEnv,
    backend: str,
    screenshots: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not HEART.exists():
        pytest.skip(f"{HEART} is not there")
    monkeypatch.setenv("SYNTHGEN_FAKE_STEP_SECONDS", "0.5")  # slow enough to watch it run
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    keys = {role: service.key(role) for role in ("steward", "ml_engineer", "auditor", "admin")}
    with served(service) as base, chromium(downloads) as driver:
        ui = Console(driver, base, screenshots, f"{backend}-")
        from selenium.webdriver.support.ui import Select

        # -- steward: upload, schema, budget, request, watch, approve ----------------------
        ui.open("/ui/login")
        ui.shot("sign-in")
        ui.sign_in(keys["steward"])
        ui.find("#name").send_keys("Cleveland heart")
        ui.find("#file").send_keys(str(HEART.resolve()))
        ui.find("#target").send_keys("num")
        budget = ui.find("#epsilon_budget")
        budget.clear()
        budget.send_keys("10")
        ui.shot("sources")
        ui.find("form[action='/ui/sources'] button[type=submit]").click()
        wait_for(lambda: driver.current_url.endswith("/schema"), what="the schema page")
        assert ui.all("#drawn-warning") and ui.all(".flag")
        ui.shot("schema-review")
        for field, value in (("min", "0"), ("max", "120")):  # public limits for age
            box = ui.find(f"#col-0-{field}")
            box.clear()
            box.send_keys(value)
        decimals = ui.find("#col-9-decimals")  # oldpeak: the steward's own precision
        decimals.clear()
        decimals.send_keys("2")
        ui.find("#rules-added").send_keys("- {type: inequality, low: age, high: chol}")
        ui.find("#accept-all").click()
        ui.find("form[action$='/schema'] button[type=submit]").click()
        source_url = wait_for(
            lambda: (
                driver.current_url
                if driver.current_url.rstrip("/").split("/")[-2] == "sources"
                else None
            ),
            what="the source page",
        )
        source_path = source_url[len(base) :]
        schema = _saved_schema(service, source_path.rstrip("/").split("/")[-1])
        assert [c.describe() for c in schema.constraints] == ["age <= chol"]
        assert {c.name: c.decimals for c in schema.columns}["oldpeak"] == 2

        def ready() -> bool:
            ui.open(source_path)
            return ui.text("#source-state") == "ready"

        wait_for(ready, what="the source to be checked")
        assert ui.text("#epsilon-left").startswith("10 left of 10")
        ui.find("#epsilon").send_keys("1")
        ui.find("#rows").send_keys("60")
        ui.shot("source-ledger")
        ui.find("form[action$='/jobs'] button[type=submit]").click()
        wait_for(lambda: "/ui/jobs/" in driver.current_url, what="the job page")
        # the page's script follows the job without a reload
        wait_for(
            lambda: ui.text("#job-state") == "running" and ui.text("#job-stage") != "–",
            what="live progress",
        )
        ui.shot("job-running")
        seen_states = {"running"}
        # the source page's gauge follows the running job without a reload (when the
        # job is still open by the time the page is there)
        job_path = driver.current_url[len(base) :]
        ui.open(source_path)
        if ui.find("#budget").get_attribute("data-open") == "yes":
            driver.execute_script("window.notReloaded = true")
            wait_for(lambda: ui.text("#eps-reserved") == "0", timeout=60, what="a live gauge")
            assert driver.execute_script("return window.notReloaded === true")
            assert ui.text("#eps-spent") != "0"
            assert "settled" in ui.text("#budget-live")
        ui.open(job_path)

        def finished() -> bool:
            state = ui.text("#job-state")
            seen_states.add(state)
            return state == "succeeded"

        wait_for(finished, timeout=60, what="the job to finish")
        ui.shot("job-done")

        def release_link() -> str | None:
            from selenium.common.exceptions import WebDriverException

            try:
                href = str(ui.find("#release-link").get_attribute("href") or "")
            except WebDriverException:  # the page is reloading
                return None
            return None if href.rstrip("/").endswith("/releases") else href

        release_id = wait_for(release_link, what="the release link").rstrip("/").split("/")[-1]
        ui.open(f"/ui/releases/{release_id}")
        assert ui.all("#report-frame")
        ui.shot("release-review")
        ui.find("#reason").send_keys("fidelity and privacy checks read")
        ui.find("#approve").click()
        wait_for(
            lambda: ui.all("#release-state") and ui.text("#release-state") == "approved",
            what="approval",
        )
        ui.open(source_path)
        assert ui.text("#eps-spent") != "0"
        ui.shot("source-after")
        driver.set_window_size(400, 900)  # a phone: nothing wider than the screen
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
        ui.shot("source-narrow")
        driver.set_window_size(1280, 1000)
        ui.refused("/ui/audit")
        ui.refused("/ui/admin")

        # -- ML engineer: approved releases, certificate, download -------------------------
        ui.sign_in(keys["ml_engineer"])
        assert release_id[:8] in driver.page_source
        ui.shot("ml-releases")
        ui.open(f"/ui/releases/{release_id}")
        assert ui.text("#cert-unit") and not ui.all("#report-frame")
        ui.shot("ml-release")
        ui.find("#download-csv").click()
        csv_file = wait_for(
            lambda: [p for p in downloads.glob("*.csv") if p.stat().st_size > 0],
            what="the download",
        )[0]
        assert len(csv_file.read_text().splitlines()) == 61
        ui.refused("/ui/sources")
        ui.refused(f"/ui/releases/{release_id}/report")
        ui.refused("/ui/audit")

        # -- auditor (keyboard only): report, audit log with filters -------------------------
        from selenium.webdriver.common.keys import Keys

        driver.delete_all_cookies()
        ui.open("/ui/login")
        driver.switch_to.active_element.send_keys(Keys.TAB)  # the skip link first
        assert driver.switch_to.active_element.get_attribute("class") == "skip"
        driver.switch_to.active_element.send_keys(Keys.TAB)
        assert driver.switch_to.active_element.get_attribute("id") == "key"
        driver.switch_to.active_element.send_keys(keys["auditor"], Keys.ENTER)
        wait_for(lambda: "/ui/login" not in driver.current_url, what="keyboard sign-in")
        ui.open(f"/ui/releases/{release_id}")
        frame = ui.find("#report-frame")
        driver.switch_to.frame(frame)
        assert "report" in driver.page_source.lower()  # the fake library's report
        driver.switch_to.default_content()
        ui.shot("auditor-release")
        ui.open("/ui/audit")
        ui.find("#f-action").send_keys("release.approve")
        ui.find("#filter").click()
        wait_for(lambda: "action=release.approve" in driver.current_url, what="the filter")
        rows = ui.all("#events tbody tr")
        assert len(rows) == 1 and "release.approve" in rows[0].text
        ui.shot("audit-filtered")
        Select(ui.find("#f-outcome")).select_by_value("refused")
        action = ui.find("#f-action")
        action.clear()
        ui.find("#filter").click()
        wait_for(lambda: "outcome=refused" in driver.current_url, what="the refusal filter")
        assert "ml_engineer" in ui.text("#events")
        ui.shot("audit-refused")
        ui.refused("/ui/admin")

        # -- admin: users and keys -----------------------------------------------------------
        ui.sign_in(keys["admin"])
        ui.find("#user-name").send_keys("new-engineer")
        Select(ui.find("#user-role")).select_by_value("ml_engineer")
        ui.find("form[action='/ui/admin/users'] button[type=submit]").click()
        key = wait_for(lambda: ui.all("#new-key"), what="the new key")[0].get_attribute("value")
        assert key.startswith("sg_") and key not in driver.current_url
        ui.shot("admin-key-once")
        ui.open("/ui/admin")
        assert key not in driver.page_source
        # change the new user's role with the keyboard: its select, then its button
        role_form = "form[action='/ui/admin/users/new-engineer/role']"
        select = ui.find(f"{role_form} select")
        assert ui.find(f"label[for='{select.get_attribute('id')}']")  # labelled
        Select(select).select_by_value("auditor")
        select.send_keys(Keys.TAB)
        assert driver.switch_to.active_element.text == "Change role"
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait_for(lambda: "new-engineer is now auditor" in driver.page_source, what="the role")
        ui.shot("admin-role-changed")
        ui.refused("/ui/sources")
    assert {"running", "succeeded"} <= seen_states


def test_schema_review_in_chromium(
    sqlite_service: ServiceEnv, screenshots: Path, tmp_path: Path
) -> None:
    """Each column's decimals, the drafted rules with their keep boxes and the box for new
    rules; a form refused for a drawn value left unaccepted keeps every edit."""
    if not LIVER.exists():
        pytest.skip(f"{LIVER} is not there")
    kept_rule = "Albumin <= Total_Protiens"
    added = (
        "- {type: conditional_range, if: {column: Gender, equals: Female},"
        " then: {column: Age, min: 0, max: 100}}"
    )
    with served(sqlite_service) as base, chromium(tmp_path) as driver:
        ui = Console(driver, base, screenshots, "schema-")
        ui.sign_in(sqlite_service.key("steward"))
        ui.find("#name").send_keys("Indian liver patients")
        ui.find("#file").send_keys(str(LIVER.resolve()))
        ui.find("#target").send_keys("Dataset")
        ui.find("form[action='/ui/sources'] button[type=submit]").click()
        wait_for(lambda: driver.current_url.endswith("/schema"), what="the schema page")
        assert ui.find("#col-9-decimals").get_attribute("class") == "drawn"  # A/G ratio: 2
        bilirubin_decimals = ui.find("#col-2-decimals")  # the steward's own precision
        bilirubin_decimals.clear()
        bilirubin_decimals.send_keys("2")
        (keep,) = [
            box
            for box in ui.all("input[name^='rule-'][name$='-keep']")
            if ui.find(f"label:has(#{box.get_attribute('id')})").text == f"keep {kept_rule}"
        ]
        keep.click()
        keep_id = keep.get_attribute("id")
        ui.find("#rules-added").send_keys(added)
        # the last columns (decimals drawn from the data) and the constraints in one shot
        driver.set_window_size(1280, 1400)
        ratio = ui.find("fieldset:has(#col-9-decimals)")
        driver.execute_script("arguments[0].scrollIntoView(); document.activeElement.blur()", ratio)
        ui.shot("review")
        driver.set_window_size(1280, 1000)

        ui.find("form[action$='/schema'] button[type=submit]").click()  # nothing accepted
        wait_for(lambda: ui.all("#refusal"), what="the refusal")
        assert "drawn from the data" in ui.text("#refusal")
        assert ui.find("#rules-added").get_attribute("value") == added
        assert ui.find("#col-2-decimals").get_attribute("value") == "2"
        assert ui.find(f"#{keep_id}").is_selected()
        ui.shot("refused")

        ui.find("#accept-all").click()
        ui.find("form[action$='/schema'] button[type=submit]").click()
        source_url = wait_for(
            lambda: driver.current_url if not driver.current_url.endswith("/schema") else None,
            what="the source page",
        )
    schema = _saved_schema(sqlite_service, source_url.rstrip("/").split("/")[-1])
    kept, typed = schema.constraints
    assert kept.describe() == kept_rule and "Gender" in typed.describe()
    decimals = {c.name: c.decimals for c in schema.columns}
    assert decimals["Total_Bilirubin"] == 2 and decimals["Albumin_and_Globulin_Ratio"] == 2
