"""Payload -> dataclasses: the one parser the sync and async sides share.

Tolerant by design, as the contract demands: each field is read from its snake_case spelling first,
then camelCase; an object may come inside a ``data`` envelope or bare; a JSON list becomes
``{"data": list}``; unknown fields are ignored. Anything we cannot read (not JSON, truncated, a list
where an object belongs, a missing id) is a :class:`ModelRedResponseError`; nothing else escapes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelred_provider.api.errors import ModelRedResponseError, error_from_response
from modelred_provider.api.models import (
    PRIORITIES,
    ApiGeneration,
    Assessment,
    AssessmentStatus,
    Model,
    Probe,
    ProbeIndex,
    ProbePack,
    ProbeResult,
    Report,
    Vulnerability,
)

# Spellings seen in the wild or in sibling APIs, mapped onto the five documented statuses.
_STATUS_ALIASES = {
    "CANCELED": AssessmentStatus.CANCELLED,
    "PENDING": AssessmentStatus.QUEUED,
    "IN_PROGRESS": AssessmentStatus.RUNNING,
    "PROCESSING": AssessmentStatus.RUNNING,
    "ERROR": AssessmentStatus.FAILED,
}


# --------------------------------------------------------------------------- the HTTP answer


def _snippet(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip()
    return text[:limit] + ("..." if len(text) > limit else "")


def read_payload(operation: str, status: int, text: str, headers: Mapping[str, str] | None = None) -> Any:
    """Decode an HTTP answer: an error status raises its typed error; a 2xx gives a dict.

    A 2xx whose body is not JSON, or JSON that is neither an object nor a list, raises
    :class:`ModelRedResponseError`. A list becomes ``{"data": list}``. An empty 2xx body gives ``{}``.
    """
    try:
        payload: Any = json.loads(text) if text.strip() else {}
        decoded = True
    except (ValueError, RecursionError):
        payload, decoded = None, False
    if status >= 400 or status < 200:
        if not decoded:
            payload = {
                "error": f"non-JSON answer: {_snippet(text)}" if text.strip() else f"API error {status}"
            }
        raise error_from_response(operation, status, payload, headers)
    if not decoded:
        raise ModelRedResponseError(
            f"the answer is not JSON ({_snippet(text) or 'empty'!r}); is the Base URL the ModelRed origin?",
            operation=operation,
            status=status,
        )
    if isinstance(payload, list):
        return {"data": payload}
    if not isinstance(payload, dict):
        raise ModelRedResponseError(
            f"expected a JSON object, got {type(payload).__name__}", operation=operation, status=status
        )
    return payload


# --------------------------------------------------------------------------- field helpers


def _pick(obj: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _str(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _lower(value: Any) -> str | None:
    text = _str(value)
    return text.lower() if text is not None else None


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return value
    number = _float(value)
    return int(number) if number is not None else default


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _bool(value: Any, default: bool | None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(text for text in (_str(item) for item in value) if text is not None)


def _object(value: Any, what: str, operation: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelRedResponseError(
            f"expected {what} as a JSON object, got {type(value).__name__}", operation=operation
        )
    return value


def _required_id(obj: Mapping[str, Any], names: tuple[str, ...], what: str, operation: str) -> str:
    value = _str(_pick(obj, *names))
    if not value:
        raise ModelRedResponseError(f"{what} without an id ({' or '.join(names)})", operation=operation)
    return value


def unwrap(payload: Mapping[str, Any]) -> Any:
    """The ``data`` envelope's content, or the payload itself when it is bare."""
    data = payload.get("data")
    return data if data is not None else payload


def unwrap_object(payload: Mapping[str, Any], what: str, operation: str) -> dict[str, Any]:
    return _object(unwrap(payload), what, operation)


def unwrap_list(payload: Mapping[str, Any], what: str, operation: str) -> list[dict[str, Any]]:
    data = payload.get("data")
    if data is None:
        data = _pick(payload, *_LIST_KEYS)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ModelRedResponseError(
            f"expected a list of {what}, got {type(data).__name__}", operation=operation
        )
    return [_object(item, what, operation) for item in data]


_LIST_KEYS = ("items", "results", "models", "assessments", "probes", "packs")


def total_pages(payload: Mapping[str, Any]) -> int:
    """``totalPages`` at the top level or under ``pagination``; 1 when absent."""
    pages = _pick(payload, "total_pages", "totalPages")
    pagination = payload.get("pagination")
    if pages is None and isinstance(pagination, dict):
        pages = _pick(pagination, "total_pages", "totalPages")
    return max(1, _int(pages, 1))


# --------------------------------------------------------------------------- objects


def parse_model(obj: Mapping[str, Any], operation: str = "get model") -> Model:
    return Model(
        id=_required_id(obj, ("id",), "model", operation),
        model_id=_str(_pick(obj, "model_id", "modelId")),
        provider=_lower(obj.get("provider")),
        model_name=_str(_pick(obj, "model_name", "modelName")),
        display_name=_str(_pick(obj, "display_name", "displayName")),
        description=_str(obj.get("description")),
        is_active=bool(_bool(_pick(obj, "is_active", "isActive"), True)),
        last_tested=_datetime(_pick(obj, "last_tested", "lastTested")),
        test_count=_int(_pick(obj, "test_count", "testCount")),
        created_at=_datetime(_pick(obj, "created_at", "createdAt")),
        updated_at=_datetime(_pick(obj, "updated_at", "updatedAt")),
    )


def parse_status(value: Any) -> AssessmentStatus:
    """Case-insensitive; an unknown or missing status reads as QUEUED, as the SDK does."""
    text = (_str(value) or "").strip().upper()
    if text in AssessmentStatus.__members__:
        return AssessmentStatus[text]
    return _STATUS_ALIASES.get(text, AssessmentStatus.QUEUED)


def _priority(value: Any) -> str | None:
    if value is None:
        return None
    text = _lower(value)
    return text if text in PRIORITIES else "normal"


def _model_ref(obj: Mapping[str, Any]) -> str | None:
    ref = _str(_pick(obj, "model_id", "modelId"))
    if ref is None:
        model = obj.get("model")
        ref = _str(_pick(model, "id", "model_id", "modelId")) if isinstance(model, dict) else _str(model)
    return ref


def parse_assessment(
    obj: Mapping[str, Any],
    api_generation: ApiGeneration = ApiGeneration.RESOURCES,
    operation: str = "get assessment",
) -> Assessment:
    report = _pick(obj, "report", "detailedReport", "detailed_report")
    return Assessment(
        id=_required_id(obj, ("assessment_id", "id", "assessmentId"), "assessment", operation),
        status=parse_status(obj.get("status")),
        model_id=_model_ref(obj),
        progress=max(0, min(100, _int(obj.get("progress")))),
        priority=_priority(obj.get("priority")),
        test_types=_str_tuple(_pick(obj, "test_types", "testTypes")),
        probe_pack_ids=_str_tuple(_pick(obj, "probe_pack_ids", "probePackIds")),
        created_at=_datetime(_pick(obj, "created_at", "createdAt")),
        completed_at=_datetime(_pick(obj, "completed_at", "completedAt")),
        report=parse_report(report) if isinstance(report, dict) else None,
        error_message=_str(_pick(obj, "error_message", "errorMessage", "error")),
        api_generation=api_generation,
    )


def parse_report(obj: Mapping[str, Any]) -> Report:
    probes = obj.get("probes")
    vulnerabilities = obj.get("vulnerabilities")
    return Report(
        overall_score=_float(_pick(obj, "overall_score", "overallScore")),
        risk_level=_lower(_pick(obj, "risk_level", "riskLevel")),
        total_tests=_int(_pick(obj, "total_tests", "totalTests")),
        passed_tests=_int(_pick(obj, "passed_tests", "passedTests")),
        failed_tests=_int(_pick(obj, "failed_tests", "failedTests")),
        probes=tuple(_probe_result(p) for p in probes if isinstance(p, dict))
        if isinstance(probes, list)
        else (),
        vulnerabilities=tuple(_vulnerability(v) for v in vulnerabilities if isinstance(v, dict))
        if isinstance(vulnerabilities, list)
        else (),
    )


def _probe_result(obj: Mapping[str, Any]) -> ProbeResult:
    findings = obj.get("findings")
    return ProbeResult(
        key=_str(_pick(obj, "key", "probe", "probe_key", "probeKey")) or "",
        display_name=_str(_pick(obj, "display_name", "displayName")),
        category=_lower(obj.get("category")),
        severity=_lower(obj.get("severity")),
        total_cases=_int(_pick(obj, "total_cases", "totalCases")),
        passed_cases=_int(_pick(obj, "passed_cases", "passedCases")),
        failed_cases=_int(_pick(obj, "failed_cases", "failedCases")),
        pass_rate=_float(_pick(obj, "pass_rate", "passRate")),
        findings=tuple(findings) if isinstance(findings, list) else (),
    )


def _vulnerability(obj: Mapping[str, Any]) -> Vulnerability:
    return Vulnerability(
        probe=_str(_pick(obj, "probe", "probe_key", "probeKey", "key")),
        severity=_lower(obj.get("severity")),
        description=_str(obj.get("description")),
        recommendation=_str(obj.get("recommendation")),
    )


def parse_probe(obj: Mapping[str, Any], operation: str = "list probes") -> Probe:
    key = _str(_pick(obj, "key", "id"))
    if not key:
        raise ModelRedResponseError("probe without a key", operation=operation)
    return Probe(
        key=key,
        display_name=_str(_pick(obj, "display_name", "displayName")),
        description=_str(obj.get("description")),
        category=_lower(obj.get("category")),
        tier=_lower(obj.get("tier")),
        severity=_lower(obj.get("severity")),
        is_active=bool(_bool(_pick(obj, "is_active", "isActive"), True)),
        version=_str(obj.get("version")),
        id=_str(obj.get("id")),
        estimated_time=_float(_pick(obj, "estimated_time", "estimatedTime")),
        tags=_str_tuple(obj.get("tags")),
    )


def parse_probe_index(payload: Mapping[str, Any], operation: str = "list probes") -> ProbeIndex:
    """``{data: {probes, probe_categories, tier_definitions, severity_levels}, meta: {user_tier}}``."""
    data = unwrap(payload)
    if isinstance(data, list):
        data = {"probes": data}
    data = _object(data, "the probe catalogue", operation)
    probes = data.get("probes", [])
    if not isinstance(probes, list):
        raise ModelRedResponseError(
            f"expected a list of probes, got {type(probes).__name__}", operation=operation
        )
    meta = _pick(payload, "meta") or data.get("meta")
    user_tier = _pick(meta, "user_tier", "userTier") if isinstance(meta, dict) else None

    def mapping(*names: str) -> dict[str, Any]:
        value = _pick(data, *names)
        return dict(value) if isinstance(value, dict) else {}

    return ProbeIndex(
        probes=tuple(parse_probe(_object(p, "a probe", operation), operation) for p in probes),
        probe_categories=mapping("probe_categories", "probeCategories"),
        tier_definitions=mapping("tier_definitions", "tierDefinitions"),
        severity_levels=mapping("severity_levels", "severityLevels"),
        user_tier=_lower(user_tier),
    )


def parse_probe_pack(obj: Mapping[str, Any], operation: str = "list probe packs") -> ProbePack:
    probe_count = _pick(obj, "probe_count", "probeCount")
    prompt_count = _pick(obj, "prompt_count", "promptCount")
    return ProbePack(
        id=_required_id(obj, ("id", "pack_id", "packId"), "probe pack", operation),
        name=_str(obj.get("name")),
        category=_lower(obj.get("category")),
        is_public=_bool(_pick(obj, "is_public", "isPublic"), None),
        probe_count=_int(probe_count) if probe_count is not None else None,
        prompt_count=_int(prompt_count) if prompt_count is not None else None,
        created_at=_datetime(_pick(obj, "created_at", "createdAt")),
        imported_at=_datetime(_pick(obj, "imported_at", "importedAt")),
    )
