"""The ModelRed connection form in Airflow's UI, in a real headless chromium against the running api-server.

Adds a connection through the "Add Connection" pop-up, checks our labelled fields (the key masked), saves
it, and presses "Test" for a good and a wrong key. Screenshots go to ``artifacts/e2e/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import ensure_chromium
from .harness import E2E_API_KEY, AirflowStack, EmulatorProcess

WRONG_KEY = "mr_wrong_key_00000000"
EXTRA_LABELS = (
    "Organization ID",
    "Request timeout (seconds)",
    "Retry limit",
    "Verify TLS certificates",
    "CA bundle path",
    "Dashboard URL",
)


@pytest.fixture(scope="module")
def browser_page(airflow_stack: AirflowStack) -> Iterator[Any]:
    chromium = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            # All-admins simple auth: this sets the JWT cookie, then lands on the Connections page.
            page.goto(f"{airflow_stack.url}/auth/token/login?next={airflow_stack.url}/connections")
            page.wait_for_load_state("networkidle")
            yield page
        finally:
            browser.close()


def _add_connection(page: Any, url: str, conn_id: str, base_url: str, key: str, shot: Path | None) -> None:
    page.goto(f"{url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    dialog.get_by_role("combobox").click()
    page.keyboard.type("ModelRed")
    page.get_by_role("option", name="ModelRed", exact=True).click()

    # Standard fields: relabelled host and password, the unused ones hidden.
    dialog.get_by_text("Base URL", exact=True).wait_for()
    for hidden in ("Login", "Schema", "Port"):
        assert dialog.get_by_text(hidden, exact=True).count() == 0, f"{hidden} should be hidden on the form"
    base = dialog.get_by_label("Base URL")
    assert base.get_attribute("placeholder") == "https://app.modelred.ai"
    base.fill(base_url)
    api_key = dialog.get_by_label("API Key")
    assert api_key.get_attribute("type") == "password", "the API Key field must be masked"
    assert api_key.get_attribute("placeholder") == "mr_..."
    api_key.fill(key)
    assert key not in dialog.inner_text(), "the typed key must not be shown as text"
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)

    # Extra fields: our labels, stored as plain extra keys.
    dialog.get_by_text("Extra Fields", exact=True).click()
    for label in EXTRA_LABELS:
        dialog.get_by_text(label, exact=True).wait_for()
    dashboard = dialog.locator('[role="group"]', has_text="Dashboard URL").last.locator("input")
    dashboard.fill(base_url)
    if shot is not None:
        page.screenshot(path=str(shot.with_name(shot.stem + "-extras.png")), full_page=True)
    dialog.get_by_role("button", name="Save").click()
    page.get_by_text("Connection has been successfully created.").wait_for()


def _portless_test_body(route: Any) -> None:
    """Work around an Airflow 3.3.2 UI bug, fixed upstream in apache/airflow#73298.

    The UI's Test button posts ``port: Number(connection.port)``, i.e. ``0`` for a connection without
    a port, and the api-server then takes 0 for "a different port than the stored NULL" and refuses
    the test with HTTP 400 ("The host or port to test differs from the stored connection") for every
    connection type that hides the port, ours included. The fix treats 0 as no port; this does the
    same to the request on its way out. Everything else (the api-server, our hook, the emulator) is real.
    """
    body = route.request.post_data_json
    if isinstance(body, dict) and body.get("port") == 0:
        body["port"] = None
        route.continue_(post_data=json.dumps(body))
    else:
        route.continue_()


def _test_button(page: Any, conn_id: str) -> str:
    page.route("**/api/v2/connections/test", _portless_test_body)
    row = page.get_by_role("row", name=conn_id)
    row.get_by_role("button", name="Test Connection").click()
    toast = page.locator('[data-scope="toast"][data-part="root"]', has_text="Test Connection").last
    toast.wait_for()
    page.wait_for_timeout(300)
    return str(toast.inner_text())


def test_connection_form_saves_and_tests(
    browser_page: Any, airflow_stack: AirflowStack, emulator_process: EmulatorProcess, e2e_artifacts: Path
) -> None:
    page = browser_page
    shot = e2e_artifacts / "connection-form.png"
    _add_connection(page, airflow_stack.url, "modelred_ui", emulator_process.url, E2E_API_KEY, shot)
    assert shot.stat().st_size > 10_000, "the screenshot of the filled form is missing or empty"

    saved = airflow_stack.api("GET", "/api/v2/connections/modelred_ui").json()
    assert saved["conn_type"] == "modelred"
    assert saved["host"] == emulator_process.url
    assert saved["password"] == "***", "the REST API must mask the key"
    assert E2E_API_KEY not in str(saved)
    assert '"dashboard_url": "' + emulator_process.url + '"' in saved["extra"]

    good = _test_button(page, "modelred_ui")
    page.screenshot(path=str(e2e_artifacts / "connection-test-good.png"))
    assert "Test Connection Successful" in good, f"the Test button should succeed with a good key: {good!r}"
    assert E2E_API_KEY not in good

    _add_connection(page, airflow_stack.url, "modelred_ui_wrong", emulator_process.url, WRONG_KEY, None)
    bad = _test_button(page, "modelred_ui_wrong")
    page.screenshot(path=str(e2e_artifacts / "connection-test-wrong-key.png"))
    assert "Test Connection Failed" in bad, f"the Test button should fail with a wrong key: {bad!r}"
    assert "key" in bad.lower(), f"the failure should say the API key is the problem: {bad!r}"
    assert WRONG_KEY not in bad, "the failure message must not echo the key"
