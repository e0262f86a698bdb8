"""Payload -> dataclasses: the one parser the sync and async sides share.

Tolerant by design, as the contract demands: each field is read from its snake_case spelling first,
then camelCase; an object may come inside a ``data`` envelope or bare; a JSON list becomes
``{"data": list}``; unknown fields are ignored. Anything we cannot read (not JSON, truncated, a list
where an object belongs, a missing id) is a :class:`ModelRedResponseError`; nothing else escapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelred_provider.api.body import decode_steps, run_steps
from modelred_provider.api.errors import ModelRedResponseError, error_from_response
from modelred_provider.api.models import (
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
from modelred_provider.api.redact import scrub
from modelred_provider.api.vocabulary import PRIORITIES, SEVERITIES, ApiGeneration, normalize_level

__all__ = [
    "parse_assessment",
    "parse_model",
    "parse_probe_index",
    "parse_probe_pack",
    "read_payload",
    "status_recognised",
    "total_pages",
    "unwrap_list",
    "unwrap_object",
]

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


def read_payload(
    operation: str,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    decoded: tuple[bool, Any] | None = None,
) -> Any:
    """Decode an HTTP answer: an error status raises its typed error; a 2xx gives a dict.

    ``decoded`` is the result of :func:`modelred_provider.api.body.decode_steps` when the transport
    already parsed the body (stepwise, on an event loop); otherwise it is parsed here.
    A 2xx whose body is not JSON, or JSON that is neither an object nor a list, raises
    :class:`ModelRedResponseError`. A list becomes ``{"data": list}``. An empty 2xx body gives ``{}``.
    """
    decoded_ok, payload = decoded if decoded is not None else run_steps(decode_steps(body))
    if status >= 400 or status < 200:
        if not decoded_ok:
            text = body[:4096].decode("utf-8", "replace")
            payload = {
                "error": f"non-JSON answer: {_snippet(text)}" if text.strip() else f"API error {status}"
            }
        raise error_from_response(operation, status, payload, headers)
    if not decoded_ok:
        text = body[:4096].decode("utf-8", "replace")
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
    """Every string the server sends passes here, and so through the one key scrub."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return scrub(value)
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
    try:  # a JSON integer may be too large for a float (OverflowError): unreadable, not a crash
        if isinstance(value, int | float | str):
            number = float(value)
        else:
            return None
    except (ValueError, OverflowError):
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


def _unwrap(payload: Mapping[str, Any]) -> Any:
    """Return the ``data`` envelope's content, or the payload itself when it is bare."""
    data = payload.get("data")
    return data if data is not None else payload


def unwrap_object(payload: Mapping[str, Any], what: str, operation: str) -> dict[str, Any]:
    return _object(_unwrap(payload), what, operation)


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


def _parse_status(value: Any) -> AssessmentStatus:
    """Read a status, case-insensitively; an unknown or missing one reads as QUEUED, as the SDK does.

    So the wait goes on, and the deadline ends it. :func:`status_recognised` tells when that was a guess.
    """
    text = (_str(value) or "").strip().upper()
    if text in AssessmentStatus.__members__:
        return AssessmentStatus[text]
    return _STATUS_ALIASES.get(text, AssessmentStatus.QUEUED)


def status_recognised(value: Any) -> bool:
    """Whether ``value`` is one of the five documented statuses or a known alias (any case)."""
    text = (_str(value) or "").strip().upper()
    return text in AssessmentStatus.__members__ or text in _STATUS_ALIASES


#: How much of a raw status is kept (for the log and the summary): a hostile server's status may be huge.
_RAW_STATUS_LIMIT = 64


def _raw_status(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    return text[:_RAW_STATUS_LIMIT] + ("..." if len(text) > _RAW_STATUS_LIMIT else "")


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
        status=_parse_status(obj.get("status")),
        status_raw=_raw_status(obj.get("status")),
        status_recognised=status_recognised(obj.get("status")),
        model_id=_model_ref(obj),
        progress=max(0, min(100, _int(obj.get("progress")))),
        priority=_priority(obj.get("priority")),
        test_types=_str_tuple(_pick(obj, "test_types", "testTypes")),
        probe_pack_ids=_str_tuple(_pick(obj, "probe_pack_ids", "probePackIds")),
        created_at=_datetime(_pick(obj, "created_at", "createdAt")),
        completed_at=_datetime(_pick(obj, "completed_at", "completedAt")),
        report=_parse_report(report) if isinstance(report, dict) else None,
        error_message=_str(_pick(obj, "error_message", "errorMessage", "error")),
        api_generation=api_generation,
    )


def _parse_report(obj: Mapping[str, Any]) -> Report:
    """Read the report.

    Severities and the risk level go through :func:`validation.normalize_level` (the same spelling rule
    as the gate and the summary); an unknown spelling is kept, for the gate to refuse. The
    vulnerabilities are read by :func:`_vulnerabilities`, which records when they cannot be counted.
    """
    probes = obj.get("probes")
    items, counts, unknown = _vulnerabilities(obj)
    return Report(
        overall_score=_float(_pick(obj, "overall_score", "overallScore")),
        risk_level=normalize_level(_pick(obj, "risk_level", "riskLevel")),
        total_tests=_int(_pick(obj, "total_tests", "totalTests")),
        passed_tests=_int(_pick(obj, "passed_tests", "passedTests")),
        failed_tests=_int(_pick(obj, "failed_tests", "failedTests")),
        probes=tuple(_probe_result(p) for p in probes if isinstance(p, dict))
        if isinstance(probes, list)
        else (),
        vulnerabilities=items,
        severity_counts=counts,
        vulnerabilities_unknown=unknown,
    )


#: The per-severity count fields some reports carry (the SDK's ``print_detailed_report`` reads them).
_ISSUE_FIELDS = {
    "critical": ("critical_issues", "criticalIssues"),
    "high": ("high_severity_issues", "highSeverityIssues"),
    "medium": ("medium_severity_issues", "mediumSeverityIssues"),
    "low": ("low_severity_issues", "lowSeverityIssues"),
}
#: Fields of a vulnerability (or per-probe row) that say how many times it occurred.
_COUNT_FIELDS = ("count", "failures", "failed_cases", "failedCases", "occurrences")
#: Fields that make an object one vulnerability rather than a map of severity -> count.
_VULNERABILITY_FIELDS = ("severity", "probe", "probe_key", "probeKey", "description", "recommendation")


def _count(value: Any) -> int | None:
    """Read a count: a whole number >= 0 (an integral float or a digit string too); ``None`` if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _vulnerabilities(obj: Mapping[str, Any]) -> tuple[tuple[Vulnerability, ...], dict[str, int], str | None]:
    """``(items, severity_counts, why_unknown)`` from the shapes a report may use.

    * ``vulnerabilities`` as a list: objects (an object with a ``count``/``failures`` of 0 is no
      vulnerability), severity strings (``["critical", "high"]``), anything else (a description, null,
      a number) is a vulnerability of unknown severity;
    * ``vulnerabilities`` as an object: severity -> count (a severity left out counts 0), severity ->
      list of vulnerabilities, probe -> ``{severity, failures}``, or one vulnerability object;
    * the ``critical_issues``/``high_severity_issues``/... counts, alone or beside the above.

    ``why_unknown`` is set when the vulnerabilities cannot be counted: ``vulnerabilities`` absent or
    null (and no complete set of count fields), of another type, or a count that is not a whole number
    >= 0. Counts from two places are merged by maximum: each is a lower bound.
    """
    items: list[Vulnerability] = []
    counts: dict[str, int] = {}
    problems: list[str] = []

    def add_count(severity: Any, value: Any, where: str) -> None:
        n = _count(value)
        key = normalize_level(severity) or "unknown"
        if n is None:
            problems.append(f"{where} is not a count ({_short(value)})")
        elif n:
            counts[key] = max(counts.get(key, 0), n)

    issues_complete = True
    for severity, names in _ISSUE_FIELDS.items():
        value = _pick(obj, *names)
        if value is None:
            issues_complete = False
        else:
            add_count(severity, value, f"{names[0]!r}")
            issues_complete = issues_complete and _count(value) is not None

    value = obj.get("vulnerabilities")
    if isinstance(value, dict) and any(name in value for name in _VULNERABILITY_FIELDS):
        value = [value]  # one vulnerability object on its own
    if isinstance(value, list):
        for entry in value:
            vuln = _vulnerability_entry(entry)
            if vuln is not None:
                items.append(vuln)
    elif isinstance(value, dict):
        for key, entry in value.items():
            if isinstance(entry, dict):  # probe -> {severity, failures}
                vuln = _vulnerability_entry({"probe": key, **entry})
                if vuln is not None:
                    items.append(vuln)
            elif isinstance(entry, list):  # severity -> [vulnerabilities]
                add_count(key, len(entry), f"vulnerabilities[{_short(key)}]")
            else:  # severity -> count
                add_count(key, entry, f"vulnerabilities[{_short(key)}]")
    elif value is None:
        if not issues_complete:
            problems.append(
                "the report has no 'vulnerabilities'"
                if "vulnerabilities" not in obj
                else "'vulnerabilities' is null"
            )
    else:
        problems.append(
            f"'vulnerabilities' is a {type(value).__name__} ({_short(value)}), not a list or an object"
        )
    return tuple(items), counts, "; ".join(problems) or None


def _vulnerability_entry(entry: Any) -> Vulnerability | None:
    """One item of a vulnerability list; ``None`` for an object that says it occurred 0 times."""
    if isinstance(entry, dict):
        occurrences = _pick(entry, *_COUNT_FIELDS)
        if occurrences is not None and _count(occurrences) == 0:
            return None
        return _vulnerability(entry)
    if isinstance(entry, str):
        level = normalize_level(entry)
        if level in SEVERITIES:
            return Vulnerability(severity=level)
        return Vulnerability(description=entry[:200])  # a description alone: severity unknown
    return Vulnerability()  # null, a number, a list...: a vulnerability we cannot read


def _probe_result(obj: Mapping[str, Any]) -> ProbeResult:
    findings = obj.get("findings")
    return ProbeResult(
        key=_str(_pick(obj, "key", "probe", "probe_key", "probeKey")) or "",
        display_name=_str(_pick(obj, "display_name", "displayName")),
        category=_lower(obj.get("category")),
        severity=normalize_level(obj.get("severity")),
        total_cases=_int(_pick(obj, "total_cases", "totalCases")),
        passed_cases=_int(_pick(obj, "passed_cases", "passedCases")),
        failed_cases=_int(_pick(obj, "failed_cases", "failedCases")),
        pass_rate=_float(_pick(obj, "pass_rate", "passRate")),
        findings=tuple(findings) if isinstance(findings, list) else (),
    )


def _vulnerability(obj: Mapping[str, Any]) -> Vulnerability:
    return Vulnerability(
        probe=_str(_pick(obj, "probe", "probe_key", "probeKey", "key")),
        severity=normalize_level(_pick(obj, "severity", "severity_level", "severityLevel")),
        description=_str(obj.get("description")),
        recommendation=_str(obj.get("recommendation")),
    )


def _parse_probe(obj: Mapping[str, Any], operation: str = "list probes") -> Probe:
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
    """Read ``{data: {probes, probe_categories, tier_definitions, severity_levels}, meta: {user_tier}}``."""
    data = _unwrap(payload)
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
        probes=tuple(_parse_probe(_object(p, "a probe", operation), operation) for p in probes),
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
