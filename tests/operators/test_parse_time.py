"""What the DAG processor pays for each DAG file: importing the operator and the sensor modules
adds nothing heavy to what ``import airflow.sdk`` already loaded, and static mistakes fail at parse."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.operators.validation import as_list, check_severities
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor

_PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
import modelred_provider.operators.assessment
import modelred_provider.sensors.assessment
print(json.dumps(sorted(set(sys.modules) - before)))
"""


_PARSE_TIME_MODULES = {
    "modelred_provider.api",
    "modelred_provider.api.vocabulary",
    "modelred_provider.links",
    "modelred_provider.links.assessment",
    "modelred_provider.operators",
    "modelred_provider.operators.assessment",
    "modelred_provider.operators.completion",
    "modelred_provider.operators.validation",
    "modelred_provider.sensors",
    "modelred_provider.sensors.assessment",
    "modelred_provider.waiting",
    "modelred_provider.waiting.parameters",
}


def test_importing_operator_and_sensor_imports_no_transport():
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    added = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [
        m
        for m in added
        if m.split(".")[0] in {"requests", "aiohttp", "urllib3", "multidict", "yarl"}
        or m.startswith("modelred_provider.hooks")
        or m == "modelred_provider.triggers.assessment"
    ]
    assert heavy == [], f"imported at parse time: {heavy}"
    # Nothing from any other distribution either: only Airflow's own modules, ours and the stdlib.
    foreign = [
        m
        for m in added
        if m.split(".")[0] not in {"airflow", "modelred_provider"}
        and m.split(".")[0] not in sys.stdlib_module_names
    ]
    assert foreign == [], f"third-party modules imported at parse time: {foreign}"
    # The probe really imported our modules (the check above could not pass vacuously).
    assert "modelred_provider.operators.assessment" in added
    # Of our own modules, only what defining the two classes needs: the base mixin, the extra link,
    # plain constants and the parameter checks. The dataclasses, gate, summary, poll policy, outcome
    # table, exceptions, hook and trigger load when a task runs.
    # (The package itself and its provider info may already be loaded by Airflow's provider discovery.)
    ours = {m for m in added if m.startswith("modelred_provider.")} - {"modelred_provider.get_provider_info"}
    assert ours == _PARSE_TIME_MODULES, (
        f"beyond what defining the classes needs: {sorted(ours - _PARSE_TIME_MODULES)}; "
        f"expected but not imported: {sorted(_PARSE_TIME_MODULES - ours)}"
    )


def test_every_wait_defaults_to_the_one_retry_budget():
    from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger
    from modelred_provider.waiting.parameters import DEFAULT_RETRY_BUDGET

    assert ModelRedAssessmentTrigger("a", "c").retry_budget == DEFAULT_RETRY_BUDGET
    assert ModelRedAssessmentOperator(task_id="t", model="m", test_types=["dan"]).retry_budget == (
        DEFAULT_RETRY_BUDGET
    )
    assert ModelRedAssessmentSensor(task_id="s", assessment_id="a").retry_budget == DEFAULT_RETRY_BUDGET


def _op(**kwargs):
    base = {"task_id": "t", "model": "gpt-4o-prod", "test_types": ["dan"]}
    base.update(kwargs)
    return ModelRedAssessmentOperator(**base)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"test_types": None}, "Choose exactly one way to pick probes, got none"),
        ({"probe_pack_ids": ["p1"]}, "test_types', 'probe_pack_ids"),
        ({"probe_categories": ["jailbreak"]}, "probe_categories/probe_severities"),
        ({"test_types": []}, "got none"),
        ({"priority": "urgent"}, "priority='urgent'"),
        ({"min_score": 120}, "min_score=120"),
        ({"max_risk_level": "severe"}, "max_risk_level='severe'"),
        ({"fail_on_severities": ["bad"]}, "fail_on_severities"),
        ({"poll_interval": 0}, "poll_interval=0"),
        ({"poll_interval": -5}, "poll_interval=-5"),
        ({"timeout": 0}, "timeout=0"),
        ({"retry_budget": -1}, "retry_budget=-1"),
        ({"model": ""}, "model=''"),
        ({"test_types": None, "probe_severities": ["urgent"]}, "probe_severities"),
    ],
)
def test_static_mistakes_fail_at_parse_naming_the_parameter(kwargs, needle):
    with pytest.raises(ValueError) as info:
        _op(**kwargs)
    assert needle in str(info.value)


def test_templated_values_are_left_for_run_time():
    op = _op(
        test_types="{{ var.json.probes }}",
        priority="{{ params.priority }}",
        min_score="{{ params.min_score }}",
        max_risk_level="{{ params.risk }}",
        fail_on_severities="{{ params.sevs }}",
    )
    assert op.priority == "{{ params.priority }}"
    assert set(op.template_fields) >= {"model", "test_types", "probe_pack_ids", "priority", "min_score"}
    assert op.template_fields_renderers["test_types"] == "json"


def test_defaults_and_link():
    op = _op()
    assert op.modelred_conn_id == "modelred_default"
    assert op.priority == "normal" and op.wait_for_completion is True
    assert op.poll_interval == 30
    assert [link.name for link in op.operator_extra_links] == ["ModelRed Assessment"]


def test_sensor_static_mistakes():
    with pytest.raises(ValueError, match="api_generation='v3'"):
        ModelRedAssessmentSensor(task_id="s", assessment_id="a1", api_generation="v3")
    with pytest.raises(ValueError, match="min_score"):
        ModelRedAssessmentSensor(task_id="s", assessment_id="a1", min_score=-3)
    sensor = ModelRedAssessmentSensor(task_id="s", assessment_id="{{ ti.xcom_pull('x') }}")
    assert "assessment_id" in sensor.template_fields
    assert [link.name for link in sensor.operator_extra_links] == ["ModelRed Assessment"]


@pytest.mark.parametrize(
    ("field", "rendered", "needle"),
    [
        ("priority", "urgent", "priority='urgent'"),
        ("min_score", "150", "min_score='150'"),
        ("max_risk_level", "severe", "max_risk_level='severe'"),
        ("test_types", "[not json", "test_types='[not json'"),
    ],
)
def test_templated_values_are_checked_when_the_task_runs(field, rendered, needle):
    op = _op(**{field: "{{ params.value }}"})
    setattr(op, field, rendered)  # what rendering the template produced
    with pytest.raises(ValueError) as info:
        op.execute({})  # fails before touching the context or the service
    assert needle in str(info.value)


def test_rendered_lists_accept_json_and_commas():
    assert as_list('["dan", "pi_basic"]', "test_types") == ["dan", "pi_basic"]
    assert as_list("dan, pi_basic", "test_types") == ["dan", "pi_basic"]
    with pytest.raises(ValueError, match="test_types"):
        as_list("[1, 2]", "test_types")


def test_list_params_rendered_by_jinja_are_read_back():
    # "{{ params.x }}" renders a list param as its Python repr, a string: it must still work.
    op = _op(test_types="{{ params.tt }}", fail_on_severities="{{ params.sevs }}")
    op.render_template_fields({"params": {"tt": ["dan", "pi_basic"], "sevs": ["critical", "High"]}})
    assert op.test_types == "['dan', 'pi_basic']"  # what Airflow hands the operator
    assert as_list(op.test_types, "test_types") == ["dan", "pi_basic"]
    assert check_severities(op.fail_on_severities) == ("critical", "high")
    assert check_severities('["low"]') == ("low",)
    with pytest.raises(ValueError, match="fail_on_severities contains 'severe'"):
        check_severities("critical, severe")


def test_asset_without_waiting_is_refused():
    # The event would announce a pass before the assessment ran (Airflow emits outlets on success).
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="asset needs wait_for_completion=True"):
        _op(asset=Asset("modelred://m/passed"), wait_for_completion=False)


def test_every_task_templates_its_connection_and_the_readers_their_api_generation():
    """As the peers do: the connection (and where the task is told it, the API generation) may come
    from params or XCom; an unknown generation is refused at parse unless it is a template."""
    from modelred_provider.operators.assessment_report import ModelRedAssessmentReportOperator
    from modelred_provider.operators.model import ModelRedDeleteModelOperator, ModelRedRegisterModelOperator

    for cls in (
        ModelRedAssessmentOperator,
        ModelRedAssessmentSensor,
        ModelRedAssessmentReportOperator,
        ModelRedRegisterModelOperator,
        ModelRedDeleteModelOperator,
    ):
        assert "modelred_conn_id" in cls.template_fields, cls.__name__
    for cls in (ModelRedAssessmentSensor, ModelRedAssessmentReportOperator):
        assert "api_generation" in cls.template_fields, cls.__name__
    report = ModelRedAssessmentReportOperator(
        task_id="r", assessment_id="a1", report_path="file:///tmp/x", api_generation="{{ params.g }}"
    )
    report.render_template_fields({"params": {"g": "v2"}})
    assert report.api_generation == "v2"
    with pytest.raises(ValueError, match="api_generation='v3' is unknown"):
        ModelRedAssessmentReportOperator(
            task_id="r", assessment_id="a1", report_path="x", api_generation="v3"
        )


def test_the_reference_lists_each_task_s_templated_fields():
    """docs/reference.md's table is the list users read: it must match the classes."""
    from pathlib import Path

    from modelred_provider.operators.assessment_report import ModelRedAssessmentReportOperator
    from modelred_provider.operators.model import ModelRedDeleteModelOperator, ModelRedRegisterModelOperator

    text = (Path(__file__).resolve().parents[2] / "docs" / "reference.md").read_text()
    rows = {
        line.split("|")[1].strip(" `"): [f.strip(" `") for f in line.split("|")[2].split(",")]
        for line in text.split("## Templated fields", 1)[1].split("##", 1)[0].splitlines()
        if line.startswith("| `")
    }
    classes = (
        ModelRedAssessmentOperator,
        ModelRedAssessmentSensor,
        ModelRedAssessmentReportOperator,
        ModelRedRegisterModelOperator,
        ModelRedDeleteModelOperator,
    )
    assert rows == {cls.__name__: list(cls.template_fields) for cls in classes}
