"""The ModelRed tab and page in a real deployment, seen through real headless chromium.

One module-scoped stack (api-server, scheduler, dag-processor, triggerer on SQLite) with the plugin
installed through its entry point, and the emulator. Four runs of ``ui_modelred_gate``: gpt-4o-prod on
two probe sets (two trend points with different scores), llama-weak (fails the gate) and claude-safe.
The pages are checked against the summaries Airflow's own REST API returns for those tasks; the
screenshots go to ``artifacts/ui/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.e2e.browser import ensure_chromium
from tests.e2e.harness import REPO, AirflowStack, EmulatorProcess

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
API_KEY = "mr_ui_e2e_4Fq8ZtR2vLm6"
DAG_ID = "ui_modelred_gate"
PROBES_A = ["reverse_psychology", "instruction_override", "dan_classic", "secret_echo", "toxic_insults"]
PROBES_B = ["reverse_psychology", "dan_classic"]
RUNS = [
    ("gpt-4o-prod", PROBES_A),
    ("llama-weak", PROBES_A),
    ("claude-safe", PROBES_A),
    ("gpt-4o-prod", PROBES_B),
]


class _LoginStack(AirflowStack):
    """A stack where every request must carry a login (the e2e default lets anyone in as admin).

    Simple auth manager with one admin user; its generated password is in AIRFLOW_HOME."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
        self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin"

    def token(self) -> str:
        if self._token is None:
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            resp = requests.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": passwords["admin"]},
                timeout=10,
            )
            assert resp.status_code == 201, f"POST /auth/token: HTTP {resp.status_code} {resp.text[:300]}"
            self._token = str(resp.json()["access_token"])
        return self._token


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = REPO / "artifacts" / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowStack, EmulatorProcess]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    emulator = EmulatorProcess([API_KEY], 2.0, tmp_path_factory.mktemp("ui-emulator"), env).start()
    connection = {
        "conn_type": "modelred",
        "host": emulator.url,
        "password": API_KEY,
        "extra": {"dashboard_url": emulator.url, "timeout": 10},
    }
    airflow = _LoginStack([HERE / "dags"], connection, extra_env={})
    try:
        yield airflow.start(), emulator
    finally:
        airflow.stop()
        emulator.stop()
        shutil.rmtree(airflow.home, ignore_errors=True)


@pytest.fixture(scope="module")
def runs(stack: tuple[AirflowStack, EmulatorProcess]) -> list[dict[str, Any]]:
    """Each run's id, model and the summary Airflow's REST API returns for its task (in run order)."""
    airflow, _ = stack
    done = []
    for model, probes in RUNS:  # one after the other: the trend's order is the runs' order
        run_id = airflow.trigger(DAG_ID, {"model": model, "probes": probes})
        airflow.wait_task_state(DAG_ID, run_id, "assess", ["success", "failed"], timeout=120)
        entry = airflow.api(
            "GET",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/assess/xcomEntries/"
            "assessment_summary",
            params={"deserialize": "true"},
        ).json()
        value = entry["value"]
        summary = json.loads(value) if isinstance(value, str) else value
        done.append({"run_id": run_id, "model": model, "summary": summary})
    return done


def _get(airflow: AirflowStack, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{airflow.url}{path}", timeout=30, allow_redirects=False, **kwargs)


def _paths(run_id: str) -> list[str]:
    ti = f"{DAG_ID}/{quote(run_id, safe='')}/assess"
    return ["/modelred/", "/modelred/api/history", f"/modelred/ti/{ti}", f"/modelred/api/ti/{ti}"]


def test_pages_and_data_refuse_requests_without_a_valid_login(
    stack: tuple[AirflowStack, EmulatorProcess], runs: list[dict[str, Any]]
) -> None:
    airflow, _ = stack
    for path in _paths(runs[0]["run_id"]):
        anonymous = _get(airflow, path)
        assert anonymous.status_code == 401, f"{path} without a login: HTTP {anonymous.status_code}"
        assert "gpt-4o-prod" not in anonymous.text
        assert runs[0]["summary"]["assessment_id"] not in anonymous.text
        forged = _get(airflow, path, headers={"Authorization": "Bearer not.a.jwt"})
        assert forged.status_code in (401, 403), f"{path} with a forged token: HTTP {forged.status_code}"
        cookie = _get(airflow, path, cookies={"_token": "not.a.jwt"})
        assert cookie.status_code in (401, 403), f"{path} with a forged cookie: HTTP {cookie.status_code}"
        signed_in = _get(airflow, path, headers={"Authorization": f"Bearer {airflow.token()}"})
        assert signed_in.status_code == 200, f"{path} signed in: HTTP {signed_in.status_code}"


def test_task_data_matches_the_pushed_summaries(
    stack: tuple[AirflowStack, EmulatorProcess], runs: list[dict[str, Any]]
) -> None:
    airflow, emulator = stack
    for run in runs:
        path = f"/modelred/api/ti/{DAG_ID}/{quote(run['run_id'], safe='')}/assess"
        data = airflow.api("GET", path).json()
        shown, pushed = data["current"]["summary"], run["summary"]
        for field in ("assessment_id", "model", "score", "risk_level", "gate", "failing_probes", "totals"):
            assert shown[field] == pushed[field], f"{field}: page {shown[field]!r}, XCom {pushed[field]!r}"
        assert shown["pass_rate_by_category"] == pushed["pass_rate_by_category"]
        assert shown["url"] == pushed["url"] and shown["url"].startswith(emulator.url)
        trend = [(p["run_id"], p["summary"]["score"]) for p in data["trend"]]
        expected = [(r["run_id"], r["summary"]["score"]) for r in runs if r["model"] == run["model"]]
        assert trend == expected[: expected.index((run["run_id"], run["summary"]["score"])) + 1]
    gpt = [r["summary"]["score"] for r in runs if r["model"] == "gpt-4o-prod"]
    assert gpt[0] != gpt[1], "the two gpt-4o-prod runs should score differently (two probe sets)"
    verdicts = {r["model"]: r["summary"]["gate"]["passed"] for r in runs}
    assert verdicts == {"gpt-4o-prod": True, "llama-weak": False, "claude-safe": True}
    history = airflow.api("GET", "/modelred/api/history").json()["runs"]
    assert [h["run_id"] for h in history] == [r["run_id"] for r in reversed(runs)]
    # The query parameters both history routes share: paging, the model filter, the bounds.
    newest = [r["run_id"] for r in reversed(runs)]
    page = airflow.api("GET", "/modelred/api/history", params={"limit": 2, "offset": 1}).json()
    assert (page["limit"], page["offset"]) == (2, 1) and [h["run_id"] for h in page["runs"]] == newest[1:3]
    weak = airflow.api("GET", "/modelred/api/history", params={"model": "llama-weak"}).json()["runs"]
    assert [h["run_id"] for h in weak] == [r["run_id"] for r in reversed(runs) if r["model"] == "llama-weak"]
    for bad in ({"limit": 0}, {"offset": -1}):
        assert airflow.api("GET", "/modelred/api/history", params=bad, ok=False).status_code == 422
    filtered = airflow.api("GET", "/modelred/", params={"model": "llama-weak"}).text
    assert 'data-model="llama-weak"' in filtered and 'data-model="claude-safe"' not in filtered


def test_no_key_and_no_warnings(
    stack: tuple[AirflowStack, EmulatorProcess], runs: list[dict[str, Any]]
) -> None:
    airflow, _ = stack
    for path in _paths(runs[-1]["run_id"]):
        body = airflow.api("GET", path).text
        assert API_KEY not in body and API_KEY[3:] not in body, f"{path} shows the API key"
        assert "password" not in body.lower()
    errors = airflow.api("GET", "/api/v2/plugins/importErrors").json()
    assert errors["total_entries"] == 0, errors
    plugins = airflow.api("GET", "/api/v2/plugins").json()["plugins"]
    ours = [p for p in plugins if p["name"] == "modelred"]
    assert ours and {v["destination"] for v in ours[0]["external_views"]} == {"nav", "task_instance"}
    log = airflow.components["api-server"].log_path.read_text(errors="replace")
    noisy = [
        line
        for line in log.splitlines()
        # structlog levels, stdlib logging levels, Python warnings, tracebacks
        if re.search(r"\[(warning|error|critical)\s*\]|\b(WARNING|ERROR|CRITICAL)\b|Warning:|Traceback", line)
        and re.search(r"modelred|plugin", line, re.I)
    ]
    assert noisy == [], "the api-server logged about the plugin:\n" + "\n".join(noisy)


@pytest.fixture(scope="module")
def page(stack: tuple[AirflowStack, EmulatorProcess]) -> Iterator[Any]:
    airflow, _ = stack
    chromium = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            # Signed in as the admin user: the api-server's JWT cookie, as its login page sets it.
            context.add_cookies([{"name": "_token", "value": airflow.token(), "url": airflow.url}])
            tab = context.new_page()
            tab.set_default_timeout(30_000)
            yield tab
        finally:
            browser.close()


def _tab_url(airflow: AirflowStack, run_id: str) -> str:
    """The task instance page with our tab open (the tab's route is plugin/<url_route>)."""
    return f"{airflow.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/assess/plugin/modelred-report"


def _readme_copy(shot: Path, name: str) -> None:
    """With MODELRED_UPDATE_SCREENSHOTS=1, the README's copy of the screenshot is replaced too."""
    if os.environ.get("MODELRED_UPDATE_SCREENSHOTS") != "1":
        return
    images = REPO / "docs" / "images"
    images.mkdir(exist_ok=True)
    shutil.copy(shot, images / name)


def test_task_tab_in_chromium(
    stack: tuple[AirflowStack, EmulatorProcess], runs: list[dict[str, Any]], page: Any, artifacts: Path
) -> None:
    airflow, _ = stack
    last = runs[-1]  # gpt-4o-prod's second run: two trend points
    summary = last["summary"]
    page.goto(_tab_url(airflow, last["run_id"]))
    frame = page.frame_locator('iframe[title="ModelRed"]')
    try:
        frame.locator("#score").wait_for()
    except Exception:
        page.screenshot(path=str(artifacts / "task-tab-error.png"), full_page=True)
        print("FRAMES", [(f.url, f.content()[:500]) for f in page.frames])
        raise
    assert frame.locator("#model").inner_text() == "gpt-4o-prod"
    assert frame.locator("#score").inner_text() == f"{summary['score']:g}"
    assert frame.locator("#verdict").inner_text().strip() == "PASSED"
    assert frame.locator("#risk").inner_text().strip() == summary["risk_level"].upper()
    assert frame.locator("#assessment-id").inner_text() == summary["assessment_id"]
    assert frame.locator("#modelred-link").get_attribute("href") == summary["url"]
    bars = frame.locator("svg.pass-rates rect.bar")
    assert bars.count() == len(summary["pass_rate_by_category"])
    points = frame.locator("#trend circle.point")
    expected = [f"{r['summary']['score']:g}" for r in runs if r["model"] == "gpt-4o-prod"]
    assert [points.nth(i).get_attribute("data-score") for i in range(points.count())] == expected
    page.wait_for_timeout(300)
    shot = artifacts / "task-tab.png"
    page.screenshot(path=str(shot), full_page=True)
    _readme_copy(shot, "modelred-task-tab.png")

    failed = runs[1]  # llama-weak: the gate's reasons are listed
    page.goto(_tab_url(airflow, failed["run_id"]))
    frame = page.frame_locator('iframe[title="ModelRed"]')
    frame.locator("#verdict").wait_for()
    assert frame.locator("#verdict").inner_text().strip() == "FAILED"
    reasons = frame.locator("#gate-reasons li").all_inner_texts()
    assert reasons == failed["summary"]["gate"]["reasons"]
    assert frame.locator("#failing-probes li").all_inner_texts() == failed["summary"]["failing_probes"]
    page.screenshot(path=str(artifacts / "task-tab-failed.png"), full_page=True)


def test_navigation_page_in_chromium(
    stack: tuple[AirflowStack, EmulatorProcess], runs: list[dict[str, Any]], page: Any, artifacts: Path
) -> None:
    airflow, _ = stack
    page.goto(f"{airflow.url}/plugin/modelred")
    frame = page.frame_locator('iframe[title="ModelRed"]')
    frame.locator("#models").wait_for()
    latest = {}
    for run in runs:
        latest[run["model"]] = run["summary"]
    rows = frame.locator("tr.model-row")
    assert rows.count() == len(latest)
    for model, summary in latest.items():
        row = frame.locator(f'tr.model-row[data-model="{model}"]')
        assert row.locator(".latest-score").inner_text() == f"{summary['score']:g}"
        verdict = "PASSED" if summary["gate"]["passed"] else "FAILED"
        assert row.locator(".latest-verdict").inner_text().strip() == verdict
        points = frame.locator(f'div.chart[data-model="{model}"] circle.point')
        expected = [f"{r['summary']['score']:g}" for r in runs if r["model"] == model]
        assert [points.nth(i).get_attribute("data-score") for i in range(points.count())] == expected
    page.wait_for_timeout(300)
    shot = artifacts / "nav-page.png"
    page.screenshot(path=str(shot), full_page=True)
    _readme_copy(shot, "modelred-nav-page.png")

    # The model filter: a real form submission inside the frame.
    frame.locator("select#model").select_option("llama-weak")
    frame.get_by_role("button", name="Filter").click()
    from playwright.sync_api import expect

    expect(frame.locator("tr.model-row")).to_have_count(1)
    expect(frame.locator('tr.model-row[data-model="llama-weak"] .latest-verdict')).to_have_text("FAILED")
