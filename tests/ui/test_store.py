"""The pages' queries and rendering over a real (SQLite) Airflow metadata DB, without servers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from modelred_provider.plugins import _render, _store

from .seed import seed


@pytest.fixture(scope="module")
def session() -> Any:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300, env=os.environ
    )
    from airflow.utils.session import create_session

    with create_session() as s:
        yield s


@pytest.fixture(scope="module")
def dags(session: Any) -> dict[str, list[dict[str, Any]]]:
    tag = uuid.uuid4().hex[:8]
    return {f"ui_a_{tag}": seed(session, f"ui_a_{tag}", 12), f"ui_b_{tag}": seed(session, f"ui_b_{tag}", 5)}


def test_history_is_newest_first_bounded_and_only_of_readable_dags(session: Any, dags: dict) -> None:
    a, b = dags
    runs = _store.history(session, {a}, limit=5)
    assert [r.run_id for r in runs] == [s["run_id"] for s in reversed(dags[a])][:5]
    assert {r.dag_id for r in _store.history(session, {a, b})} == {a, b}
    assert len(_store.history(session, {a, b})) == 17
    assert _store.history(session, set()) == []
    page_two = _store.history(session, {a}, limit=5, offset=5)
    assert [r.run_id for r in page_two] == [s["run_id"] for s in reversed(dags[a])][5:10]
    # The DAG filter cannot widen what the user may read.
    assert _store.history(session, {a}, dag_id=b) == []


def test_model_filter_and_facets(session: Any, dags: dict) -> None:
    a, b = dags
    runs = _store.history(session, {a, b}, model="llama-weak")
    expected = sorted(
        (s["run_id"] for d in (a, b) for s in dags[d] if s["model"] == "llama-weak"),
    )
    assert sorted(r.run_id for r in runs) == expected and runs
    dag_ids, models = _store.facets(session, {a})
    assert dag_ids == [a]
    assert models == sorted({s["model"] for s in dags[a]})


def test_task_report_has_the_models_earlier_runs_of_the_task(session: Any, dags: dict) -> None:
    a, _ = dags
    target = dags[a][9]
    current, trend = _store.task_report(session, a, target["run_id"], "assess", -1)
    assert current is not None and current.summary["score"] == target["score"]
    same_model = [s for s in dags[a][:10] if s["model"] == target["model"]]
    assert [r.run_id for r in trend] == [s["run_id"] for s in same_model]
    assert _store.task_report(session, a, "no-such-run", "assess", -1) == (None, [])


def test_clean_summary_keeps_only_shown_fields_and_hides_key_shaped_text() -> None:
    raw = {
        "assessment_id": "asm_1",
        "url": "https://user:mr_secret_123456789@app.modelred.ai/assessments/asm_1?token=x#y",
        "model": "m",
        "score": True,  # not a number
        "error": "rejected key mr_abcdefghijklmnop",
        "extra_field": "should not appear",
        "gate": {"passed": False, "reasons": ["score below 70"], "extra": 1},
    }
    clean = _store.clean_summary(raw)
    assert clean is not None
    assert clean["url"] == "https://app.modelred.ai/assessments/asm_1"
    assert clean["score"] is None
    assert clean["error"] == "rejected key mr_***"
    assert "extra_field" not in clean and clean["gate"] == {"passed": False, "reasons": ["score below 70"]}
    assert _store.clean_summary({"no": "id"}) is None
    assert _store.clean_summary('{"assessment_id": "x", "url": "javascript:alert(1)"}')["url"] is None


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("url", "https://h:99999/x", None),  # a port past 65535
        ("url", "https://h:abc/x", None),
        ("url", "http://[::1/x", None),  # an unclosed IPv6 bracket
        ("url", "https://[::1]:8080/a?q=1", "https://[::1]:8080/a"),
        pytest.param("score", 10**400, None, id="score-past-float-range"),
        ("score", float("nan"), None),
        ("score", 87.5, 87.5),
        ("gate", {"passed": "false", "reasons": []}, {"passed": False, "reasons": []}),
        ("gate", {"passed": 1, "reasons": []}, {"passed": False, "reasons": []}),
        ("gate", {"passed": True, "reasons": []}, {"passed": True, "reasons": []}),
    ],
)
def test_what_a_task_wrote_cannot_break_the_pages_or_pass_a_gate(
    session: Any, dags: dict, field: str, value: Any, shown: Any
) -> None:
    """Any task that writes XCom writes what these pages read: a value that does not parse is not shown,
    and only a real ``True`` shows a pass, never an exception that takes the page down for every reader."""
    clean = _store.clean_summary({"assessment_id": "asm_1", field: value})
    assert clean is not None and clean[field] == shown
    a, _ = dags
    run = _store.history(session, {a}, limit=1)[0]
    hostile = _store.Run(run.dag_id, run.run_id, run.task_id, run.map_index, 1, run.when, clean)
    assert "asm_1" in _render.ti_page(hostile, [hostile], "")
    page = _render.history_page(
        [hostile], dags=[a], models=[], dag_id=None, model=None, limit=10, offset=0, base=""
    )
    assert f"1 run in {a}" in page


def test_lists_a_task_wrote_are_cut_to_the_first_200() -> None:
    many = [f"probe_{i}" for i in range(10_000)]
    rates = {f"cat_{i}": 50.0 for i in range(10_000)}
    clean = _store.clean_summary(
        {
            "assessment_id": "a",
            "failing_probes": many,
            "pass_rate_by_category": rates,
            "gate": {"reasons": many},
        }
    )
    assert clean is not None
    assert clean["failing_probes"] == many[:200] and clean["gate"]["reasons"] == many[:200]
    assert list(clean["pass_rate_by_category"]) == list(rates)[:200]


def test_pages_escape_what_tasks_wrote(session: Any, dags: dict) -> None:
    a, _ = dags
    run = _store.history(session, {a}, limit=1)[0]
    hostile = _store.Run(
        run.dag_id,
        run.run_id,
        run.task_id,
        run.map_index,
        1,
        run.when,
        {**run.summary, "model": "<script>alert(1)</script>", "failing_probes": ['"><img src=x>']},
    )
    html = _render.ti_page(hostile, [hostile], "")
    assert "<script>" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = _render.history_page(
        [hostile], dags=[a], models=["<b>"], dag_id=None, model=None, limit=10, offset=0, base=""
    )
    assert "<script>" not in page and "&lt;b&gt;" in page
    assert page.count('class="point"') == 1
