"""Property tests: whatever JSON (or garbage) and status the server answers, the parsers give a valid
typed object or raise our base error, never a KeyError/TypeError/JSONDecodeError from inside."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelred_provider.api import parsing
from modelred_provider.api.errors import ModelRedAPIError, ModelRedError, ModelRedResponseError
from modelred_provider.api.models import Assessment, AssessmentStatus, Model, ProbeIndex, ProbePack, Report
from modelred_provider.api.vocabulary import ApiGeneration

FIELD_NAMES = [
    "id", "assessment_id", "assessmentId", "model_id", "modelId", "model", "status", "progress", "priority",
    "test_types", "testTypes", "probe_pack_ids", "probePackIds", "created_at", "createdAt", "completed_at",
    "completedAt", "report", "detailedReport", "overall_score", "overallScore", "risk_level", "total_tests",
    "probes", "vulnerabilities", "findings", "key", "displayName", "category", "tier", "severity",
    "isActive", "testCount", "data", "meta", "user_tier", "totalPages", "pagination", "error", "message",
    "code", "details", "name", "isPublic", "probeCount", "importedAt", "success", "page", "pageSize",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["COMPLETED", "running", "Failed", "2025-01-01T00:00:00Z", "2025-13-45T99:99", "mr_"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=12,
)
statuses = st.sampled_from(
    [200, 201, 204, 301, 400, 401, 403, 404, 409, 412, 422, 429, 500, 502, 503, 504, 418]
)


def _parse_everything(payload: dict[str, Any]) -> list[Any]:
    """Run every parser the hook uses on one payload; each may raise only ModelRedResponseError."""
    results: list[Any] = []
    for step in (
        lambda: parsing.parse_assessment(parsing.unwrap_object(payload, "an assessment", "get assessment")),
        lambda: parsing.parse_assessment(
            parsing.unwrap_object(payload, "an assessment", "get assessment"), ApiGeneration.V2
        ),
        lambda: [parsing.parse_assessment(i) for i in parsing.unwrap_list(payload, "assessments", "list")],
        lambda: parsing.parse_model(parsing.unwrap_object(payload, "a model", "get model")),
        lambda: [parsing.parse_model(i) for i in parsing.unwrap_list(payload, "models", "list models")],
        lambda: parsing.parse_probe_index(payload),
        lambda: [parsing.parse_probe_pack(i) for i in parsing.unwrap_list(payload, "packs", "list packs")],
        lambda: parsing.total_pages(payload),
    ):
        try:
            results.append(step())
        except ModelRedResponseError as err:
            assert str(err)  # a readable message
            results.append(err)
    return results


def _check_types(results: list[Any]) -> None:
    for result in results:
        items = result if isinstance(result, list) else [result]
        for item in items:
            assert isinstance(item, Assessment | Model | ProbeIndex | ProbePack | int | ModelRedResponseError)
            if isinstance(item, Assessment):
                assert isinstance(item.id, str) and item.id
                assert isinstance(item.status, AssessmentStatus)
                assert 0 <= item.progress <= 100
                assert item.report is None or isinstance(item.report, Report)
                assert all(isinstance(t, str) for t in item.test_types)
            if isinstance(item, Model | ProbePack):
                assert isinstance(item.id, str) and item.id
            if isinstance(item, ProbeIndex):
                assert all(isinstance(p.key, str) and p.key for p in item.probes)
            if isinstance(item, int):
                assert item >= 1


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values, status=statuses)
def test_random_json_bodies_give_objects_or_our_errors(body: Any, status: int) -> None:
    text = json.dumps(body)
    try:
        payload = parsing.read_payload("get assessment", status, text.encode(), {"Retry-After": "1"})
    except ModelRedError as err:
        assert status >= 400 or status < 200 or isinstance(err, ModelRedResponseError)
        if status >= 400:
            assert isinstance(err, ModelRedAPIError) and err.status == status
            assert f"HTTP {status}" in str(err)
        return
    assert 200 <= status < 400 and isinstance(payload, dict)
    _check_types(_parse_everything(payload))


@settings(max_examples=1500, deadline=None, database=None)
@given(
    text=st.text(max_size=200) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")), status=statuses
)
def test_random_text_bodies_never_escape_as_decoding_errors(text: str, status: int) -> None:
    try:
        payload = parsing.read_payload("list models", status, text.encode())
    except ModelRedError as err:
        assert "list models" in str(err)
        return
    _check_types(_parse_everything(payload))


@settings(max_examples=500, deadline=None, database=None)
@given(
    obj=st.dictionaries(st.sampled_from(FIELD_NAMES), scalars | st.lists(scalars, max_size=3), max_size=12)
)
def test_assessment_objects_with_an_id_always_parse(obj: dict[str, Any]) -> None:
    obj["assessment_id"] = "a-1"
    assessment = parsing.parse_assessment(obj)
    assert assessment.id == "a-1"
    assert isinstance(assessment.status, AssessmentStatus)


def test_malformed_answers_are_typed_errors() -> None:
    cases = [
        (200, "<html><body>502 Bad Gateway</body></html>"),
        (200, '{"data": {"assessment_id": "a1", "status": "RUN'),
        (200, '"just a string"'),
    ]
    for status, text in cases:
        try:
            parsing.read_payload("get assessment", status, text.encode())
        except ModelRedResponseError as err:
            assert "get assessment" in str(err) and "HTTP 200" in str(err)
        else:
            raise AssertionError(f"{text!r} was accepted")
    payload = parsing.read_payload("get assessment", 200, b'[{"assessment_id": "a1"}]')
    assert payload == {"data": [{"assessment_id": "a1"}]}
    try:
        parsing.unwrap_object(payload, "an assessment", "get assessment")
    except ModelRedResponseError as err:
        assert "expected an assessment as a JSON object, got list" in str(err)
    else:
        raise AssertionError("a list was accepted where an object belongs")
    try:
        parsing.parse_assessment({"status": "RUNNING"})
    except ModelRedResponseError as err:
        assert "without an id" in str(err)
    else:
        raise AssertionError("an assessment without id was accepted")


def test_the_hook_over_http_gives_objects_or_our_errors(monkeypatch, tmp_path) -> None:
    """The same property end to end: random bodies and statuses served over real HTTP to the hook."""
    from modelred_provider.hooks.modelred import ModelRedHook

    from .servers import Script, scripted_server
    from .support import set_connection

    script = Script()
    with scripted_server(script) as origin:
        set_connection(monkeypatch, origin, conn_id="modelred_fuzz", max_retries=0)
        hook = ModelRedHook("modelred_fuzz")
        calls = [
            lambda: hook.get_assessment("asm_1"),
            lambda: hook.get_assessment("asm_1", api_generation=ApiGeneration.V2),
            lambda: hook.list_models(),
            lambda: hook.get_probes(),
            lambda: hook.list_probe_packs(),
            lambda: hook.list_assessments(api_generation=ApiGeneration.V2),
        ]

        @settings(max_examples=400, deadline=None, database=None)
        @given(body=json_values, status=statuses, which=st.integers(0, len(calls) - 1))
        def check(body: Any, status: int, which: int) -> None:
            script.status = 200 if status in (204, 301) else status  # no body / no Location
            script.body = json.dumps(body).encode()
            try:
                result = calls[which]()
            except ModelRedError:
                return
            assert 200 <= script.status < 300
            _check_types(result if isinstance(result, list) else [result])

        check()
        hook.close()
    assert len(script.received) >= 400
