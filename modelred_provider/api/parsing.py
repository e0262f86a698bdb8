"""Payload -> dataclasses: the one parser the sync and async sides share.

Tolerant by design, as the contract demands: each field is read from its snake_case spelling first,
then camelCase; an object may come inside a ``data`` envelope or bare; a JSON list becomes
``{"data": list}``; unknown fields are ignored. Anything we cannot read (not JSON, truncated, a list
where an object belongs, a missing id) is a :class:`ModelRedResponseError`; nothing else escapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
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

# Every spelling of a status (any case): the five documented ones, then those seen in the wild or in
# sibling APIs.
_STATUSES: dict[str, AssessmentStatus] = {
    **AssessmentStatus.__members__,
    "CANCELED": AssessmentStatus.CANCELLED,
    "PENDING": AssessmentStatus.QUEUED,
    "IN_PROGRESS": AssessmentStatus.RUNNING,
    "PROCESSING": AssessmentStatus.RUNNING,
    "ERROR": AssessmentStatus.FAILED,
}
#: How much of a raw status is kept (for the log and the summary): a hostile server's status may be huge.
_RAW_STATUS_LIMIT = 64


# --------------------------------------------------------------------------- the HTTP answer


def _clip(text: str, limit: int) -> str:
    return text[:limit] + ("..." if len(text) > limit else "")


def _snippet(text: str) -> str:
    return _clip(re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip(), 160)


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
    failed = not 200 <= status < 400
    if not decoded_ok:
        text = body[:4096].decode("utf-8", "replace")
        if not failed:
            raise ModelRedResponseError(
                f"the answer is not JSON ({_snippet(text) or 'empty'!r}); "
                "is the Base URL the ModelRed origin?",
                operation=operation,
                status=status,
            )
        payload = {"error": f"non-JSON answer: {_snippet(text)}" if text.strip() else f"API error {status}"}
    if failed:
        raise error_from_response(operation, status, payload, headers)
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
    if isinstance(value, str):
        return scrub(value)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _lower(value: Any) -> str | None:
    text = _str(value)
    return text.lower() if text is not None else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:  # a JSON integer may be too large for a float (OverflowError): unreadable, not a crash
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return value
    number = _float(value)
    return int(number) if number is not None else default


def _maybe_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _progress(value: Any) -> int:
    return max(0, min(100, _int(value)))


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    return value if isinstance(value, bool) else default


def _active(value: Any) -> bool:
    return bool(_bool(value, True))


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else ()


def _str_tuple(value: Any) -> tuple[str, ...]:
    return tuple(text for text in map(_str, _tuple(value)) if text is not None)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _priority(value: Any) -> str | None:
    text = _lower(value)
    return text if value is None or text in PRIORITIES else "normal"


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), name)


_Table = tuple[tuple[str, Callable[[Any], Any], str], ...]


def _table(groups: Mapping[Callable[[Any], Any], str]) -> _Table:
    """Build the table of a dataclass's plain fields from ``{parser: "field field ..."}`` (snake_case)."""
    return tuple((name, parse, _camel(name)) for parse, names in groups.items() for name in names.split())


def _fields(obj: Mapping[str, Any], table: _Table) -> dict[str, Any]:
    """Each field of ``table`` from its snake_case spelling, then its camelCase one, through its parser."""
    get = obj.get  # (the hot path of every list: no _pick call per field)
    return {name: parse(v if (v := get(name)) is not None else get(camel)) for name, parse, camel in table}


def _object(value: Any, what: str, operation: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelRedResponseError(
            f"expected {what} as a JSON object, got {type(value).__name__}", operation=operation
        )
    return value


def _list(value: Any, what: str, operation: str) -> list[Any]:
    if not isinstance(value, list):
        raise ModelRedResponseError(
            f"expected a list of {what}, got {type(value).__name__}", operation=operation
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
    data = _pick(payload, "data", "items", "results", "models", "assessments", "probes", "packs")
    return [] if data is None else [_object(item, what, operation) for item in _list(data, what, operation)]


def total_pages(payload: Mapping[str, Any]) -> int:
    """``totalPages`` at the top level or under ``pagination``; 1 when absent."""
    pages = _pick(payload, "total_pages", "totalPages")
    pagination = payload.get("pagination")
    if pages is None and isinstance(pagination, dict):
        pages = _pick(pagination, "total_pages", "totalPages")
    return max(1, _int(pages, 1))


# --------------------------------------------------------------------------- objects

# Each table: parser -> the plain fields of a dataclass it reads (see _table).
_MODEL = _table(
    {
        _str: "model_id model_name display_name description",
        _lower: "provider",
        _active: "is_active",
        _int: "test_count",
        _datetime: "last_tested created_at updated_at",
    }
)


def parse_model(obj: Mapping[str, Any], operation: str = "get model") -> Model:
    return Model(id=_required_id(obj, ("id",), "model", operation), **_fields(obj, _MODEL))


def _parse_status(value: Any) -> dict[str, Any]:
    """Read a status, case-insensitively; an unknown or missing one reads as QUEUED, as the SDK does.

    So the wait goes on, and the deadline ends it. ``status_recognised`` tells when that was a guess;
    ``status_raw`` keeps what the server sent.
    """
    text = _str(value)
    spelling = (text or "").strip().upper()
    return {
        "status": _STATUSES.get(spelling, AssessmentStatus.QUEUED),
        "status_raw": None if text is None else _clip(text, _RAW_STATUS_LIMIT),
        "status_recognised": spelling in _STATUSES,
    }


def status_recognised(value: Any) -> bool:
    """Whether ``value`` is one of the five documented statuses or a known alias (any case)."""
    return (_str(value) or "").strip().upper() in _STATUSES


def _model_ref(obj: Mapping[str, Any]) -> str | None:
    ref = _str(_pick(obj, "model_id", "modelId"))
    if ref is None:
        model = obj.get("model")
        ref = _str(_pick(model, "id", "model_id", "modelId")) if isinstance(model, dict) else _str(model)
    return ref


_ASSESSMENT = _table(
    {
        _progress: "progress",
        _priority: "priority",
        _str_tuple: "test_types probe_pack_ids",
        _datetime: "created_at completed_at",
    }
)


def parse_assessment(
    obj: Mapping[str, Any],
    api_generation: ApiGeneration = ApiGeneration.RESOURCES,
    operation: str = "get assessment",
) -> Assessment:
    report = _pick(obj, "report", "detailedReport", "detailed_report")
    return Assessment(
        id=_required_id(obj, ("assessment_id", "id", "assessmentId"), "assessment", operation),
        model_id=_model_ref(obj),
        report=_parse_report(report) if isinstance(report, dict) else None,
        error_message=_str(_pick(obj, "error_message", "errorMessage", "error")),
        api_generation=api_generation,
        **_parse_status(obj.get("status")),
        **_fields(obj, _ASSESSMENT),
    )


_REPORT = _table(
    {_float: "overall_score", normalize_level: "risk_level", _int: "total_tests passed_tests failed_tests"}
)


def _parse_report(obj: Mapping[str, Any]) -> Report:
    """Read the report.

    Severities and the risk level go through :func:`vocabulary.normalize_level` (the same spelling rule
    as the gate and the summary); an unknown spelling is kept, for the gate to refuse. The
    vulnerabilities are read by :func:`_vulnerabilities`, which records when they cannot be counted.
    """
    items, counts, unknown = _vulnerabilities(obj)
    return Report(
        probes=tuple(_probe_result(p) for p in _tuple(obj.get("probes")) if isinstance(p, dict)),
        vulnerabilities=items,
        severity_counts=counts,
        vulnerabilities_unknown=unknown,
        **_fields(obj, _REPORT),
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
        try:
            return int(value.strip())
        except ValueError:  # a digit int() does not read ("²"), or more digits than it converts
            return None
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
    counts: dict[str, int] = {}
    problems: list[str] = []

    def add_count(severity: Any, value: Any, where: str) -> bool:
        n = _count(value)
        key = normalize_level(severity) or "unknown"
        if n is None:
            problems.append(f"{where} is not a count ({_short(value)})")
        elif n:
            counts[key] = max(counts.get(key, 0), n)
        return n is not None

    issues_complete = True
    for severity, names in _ISSUE_FIELDS.items():
        value = _pick(obj, *names)
        if value is None or not add_count(severity, value, repr(names[0])):
            issues_complete = False

    value = obj.get("vulnerabilities")
    if isinstance(value, dict) and any(name in value for name in _VULNERABILITY_FIELDS):
        value = [value]  # one vulnerability object on its own
    entries: list[Any] = value if isinstance(value, list) else []
    if isinstance(value, dict):
        for key, entry in value.items():
            if isinstance(entry, dict):  # probe -> {severity, failures}
                entries.append({"probe": key, **entry})
            else:  # severity -> [vulnerabilities], or severity -> count
                count = len(entry) if isinstance(entry, list) else entry
                add_count(key, count, f"vulnerabilities[{_short(key)}]")
    elif value is None:
        if not issues_complete:
            problems.append(
                "the report has no 'vulnerabilities'"
                if "vulnerabilities" not in obj
                else "'vulnerabilities' is null"
            )
    elif not isinstance(value, list):
        problems.append(
            f"'vulnerabilities' is a {type(value).__name__} ({_short(value)}), not a list or an object"
        )
    items = tuple(vuln for vuln in map(_vulnerability_entry, entries) if vuln is not None)
    return items, counts, "; ".join(problems) or None


def _vulnerability_entry(entry: Any) -> Vulnerability | None:
    """One item of a vulnerability list; ``None`` for an object that says it occurred 0 times."""
    if isinstance(entry, dict):
        occurrences = _pick(entry, *_COUNT_FIELDS)
        if occurrences is not None and _count(occurrences) == 0:
            return None
        return Vulnerability(
            probe=_str(_pick(entry, "probe", "probe_key", "probeKey", "key")),
            severity=normalize_level(_pick(entry, "severity", "severity_level", "severityLevel")),
            description=_str(entry.get("description")),
            recommendation=_str(entry.get("recommendation")),
        )
    if isinstance(entry, str):
        level = normalize_level(entry)
        if level in SEVERITIES:
            return Vulnerability(severity=level)
        return Vulnerability(description=entry[:200])  # a description alone: severity unknown
    return Vulnerability()  # null, a number, a list...: a vulnerability we cannot read


_PROBE_RESULT = _table(
    {
        _str: "display_name",
        _lower: "category",
        normalize_level: "severity",
        _int: "total_cases passed_cases failed_cases",
        _float: "pass_rate",
        _tuple: "findings",
    }
)


def _probe_result(obj: Mapping[str, Any]) -> ProbeResult:
    key = _str(_pick(obj, "key", "probe", "probe_key", "probeKey")) or ""
    return ProbeResult(key=key, **_fields(obj, _PROBE_RESULT))


_PROBE = _table(
    {
        _str: "display_name description version id",
        _lower: "category tier severity",
        _active: "is_active",
        _float: "estimated_time",
        _str_tuple: "tags",
    }
)


def _parse_probe(obj: Mapping[str, Any], operation: str) -> Probe:
    key = _str(_pick(obj, "key", "id"))
    if not key:
        raise ModelRedResponseError("probe without a key", operation=operation)
    return Probe(key=key, **_fields(obj, _PROBE))


_PROBE_INDEX = _table({_dict: "probe_categories tier_definitions severity_levels"})


def parse_probe_index(payload: Mapping[str, Any], operation: str = "list probes") -> ProbeIndex:
    """Read ``{data: {probes, probe_categories, tier_definitions, severity_levels}, meta: {user_tier}}``."""
    data = _unwrap(payload)
    data = _object({"probes": data} if isinstance(data, list) else data, "the probe catalogue", operation)
    probes = _list(data.get("probes", []), "probes", operation)
    meta = payload.get("meta") or data.get("meta")
    return ProbeIndex(
        probes=tuple(_parse_probe(_object(p, "a probe", operation), operation) for p in probes),
        user_tier=_lower(_pick(meta, "user_tier", "userTier")) if isinstance(meta, dict) else None,
        **_fields(data, _PROBE_INDEX),
    )


_PROBE_PACK = _table(
    {
        _str: "name",
        _lower: "category",
        _bool: "is_public",
        _maybe_int: "probe_count prompt_count",
        _datetime: "created_at imported_at",
    }
)


def parse_probe_pack(obj: Mapping[str, Any], operation: str = "list probe packs") -> ProbePack:
    pack_id = _required_id(obj, ("id", "pack_id", "packId"), "probe pack", operation)
    return ProbePack(id=pack_id, **_fields(obj, _PROBE_PACK))
