"""One table of the ModelRed operations: method, path per API generation, and the request builders.

Both transports (requests and aiohttp) send exactly the :class:`RequestSpec` built here.
Paths are relative to the service origin and start with ``/api`` (see ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import UnionType
from typing import Any
from urllib.parse import quote

from modelred_provider.api.errors import ModelRedConfigurationError
from modelred_provider.api.models import AssessmentStatus
from modelred_provider.api.vocabulary import PRIORITIES, ApiGeneration

__all__ = [
    "ENDPOINTS",
    "V2_PAGE_SIZE",
    "RequestSpec",
    "cancel_assessment",
    "create_assessment",
    "create_model",
    "delete_model",
    "get_assessment",
    "get_model",
    "list_assessments",
    "list_models",
    "list_probe_packs",
    "list_probes",
    "status_filter",
]

_RES, _V2 = ApiGeneration.RESOURCES, ApiGeneration.V2

#: Page sizes: the SDK caps model pages at 100 and always asks 200 probes.
_MODEL_PAGE_SIZE = 100
_PROBE_PAGE_SIZE = 200
#: The largest v2 page asked (the SDK never asks more than 100); the default of the v2 lists. The
#: hook's own lists ask ``ModelRedHook.page_size`` (50); the triggers' shared list asks this.
V2_PAGE_SIZE = 100
_NEWEST_FIRST = {"sortBy": "createdAt", "sortDir": "desc"}


@dataclass(frozen=True)
class _Endpoint:
    operation: str
    method: str
    paths: dict[ApiGeneration, str]

    def path(self, generation: ApiGeneration, **ids: str) -> str:
        template = self.paths.get(ApiGeneration(generation))
        if template is None:
            available = ", ".join(g.value for g in self.paths)
            raise ModelRedConfigurationError(
                f"{self.operation} is not available in the {ApiGeneration(generation).value} API "
                f"(available: {available})"
            )
        return template.format(**{k: quote(v, safe="") for k, v in ids.items()})


#: The operation's words in messages and logs are its name, spaced ("get_assessment": "get assessment").
ENDPOINTS: dict[str, _Endpoint] = {
    name: _Endpoint(name.replace("_", " "), method, paths)
    for name, method, paths in (
        ("list_models", "GET", {_RES: "/api/models", _V2: "/api/models"}),
        ("get_model", "GET", {_RES: "/api/models/{id}"}),
        ("create_model", "POST", {_RES: "/api/models"}),
        ("delete_model", "DELETE", {_RES: "/api/models/{id}"}),
        ("list_probes", "GET", {_RES: "/api/probes"}),
        ("list_probe_packs", "GET", {_V2: "/api/v2/probes"}),
        ("list_imported_probe_packs", "GET", {_V2: "/api/v2/probes/imported"}),
        ("create_assessment", "POST", {_RES: "/api/assessments", _V2: "/api/v2/assessments"}),
        ("get_assessment", "GET", {_RES: "/api/assessments/{id}", _V2: "/api/v2/assessments/{id}"}),
        ("list_assessments", "GET", {_RES: "/api/assessments", _V2: "/api/v2/assessments"}),
        ("cancel_assessment", "PATCH", {_V2: "/api/v2/assessments/{id}"}),
    )
}


@dataclass(frozen=True)
class RequestSpec:
    """Everything a transport needs to send one request (never the key: headers are the transport's)."""

    operation: str
    method: str
    path: str
    api_generation: ApiGeneration = _RES
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    #: Keys of a large answer the caller does not need (never built: see ``api.body.decode_steps``).
    skip_fields: frozenset[str] = frozenset()
    #: A cap on this answer's decoded size below the connection's ``max_response_mb`` (None: that cap),
    #: for a trigger's bounded final read.
    max_bytes: int | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD", "OPTIONS")

    def byte_cap(self, connection_cap: int) -> int:
        """Return the most decoded bytes either transport reads of this answer."""
        return connection_cap if self.max_bytes is None else min(connection_cap, self.max_bytes)


def _spec(
    name: str,
    generation: ApiGeneration,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    **ids: str,
) -> RequestSpec:
    endpoint, generation = ENDPOINTS[name], ApiGeneration(generation)
    params = {k: str(v) for k, v in (params or {}).items() if v is not None}
    return RequestSpec(
        endpoint.operation, endpoint.method, endpoint.path(generation, **ids), generation, params, json
    )


def _identifier(value: Any, what: str, kinds: type | UnionType = str | int) -> str:
    if isinstance(value, bool) or not isinstance(value, kinds) or not str(value).strip():
        raise ModelRedConfigurationError(f"{what} must be a non-empty string, got {value!r}")
    return str(value).strip()


# --------------------------------------------------------------------------- builders


def list_models(
    page: int = 1,
    *,
    page_size: int = _MODEL_PAGE_SIZE,
    search: str | None = None,
    provider: str | None = None,
    status: str | None = "both",
) -> RequestSpec:
    if status is not None and status not in ("active", "inactive", "both"):
        raise ModelRedConfigurationError(f"status must be 'active', 'inactive' or 'both', got {status!r}")
    params = {"page": page, "pageSize": min(page_size, _MODEL_PAGE_SIZE), "status": status, **_NEWEST_FIRST}
    return _spec("list_models", _RES, params={**params, "search": search, "provider": provider})


def get_model(identifier: str) -> RequestSpec:
    return _spec("get_model", _RES, id=_identifier(identifier, "the model identifier"))


def create_model(
    model_id: str,
    *,
    provider: str,
    display_name: str,
    provider_config: dict[str, Any],
    description: str | None = None,
) -> RequestSpec:
    """``POST /api/models`` (resources API only); ``provider_config`` may hold secrets: never log the body."""
    if not isinstance(provider_config, dict):
        raise ModelRedConfigurationError("provider_config must be a dict of the provider's settings")
    provider = _identifier(provider, "provider", str).lower()
    _identifier(display_name, "display_name", str)  # checked, sent as given
    body: dict[str, Any] = {
        "modelId": _identifier(model_id, "the model id"),
        "provider": provider,
        "displayName": display_name,
        "providerConfig": provider_config,
    }
    if description is not None:
        body["description"] = description
    return _spec("create_model", _RES, json=body)


def delete_model(identifier: str) -> RequestSpec:
    """``DELETE /api/models/{id}`` (contract 1.2): the database id."""
    return _spec("delete_model", _RES, id=_identifier(identifier, "the model id"))


def list_probes(
    category: str | None = None, severity: str | None = None, tier: str | None = None, page: int = 1
) -> RequestSpec:
    params = {"pageSize": _PROBE_PAGE_SIZE, "category": category, "severity": severity, "tier": tier}
    if page > 1:
        params["page"] = page
    return _spec("list_probes", _RES, params=params)


def list_probe_packs(
    page: int = 1,
    *,
    imported: bool = False,
    category: str | None = None,
    search: str | None = None,
    is_public: bool | None = None,
    page_size: int = V2_PAGE_SIZE,
) -> RequestSpec:
    params: dict[str, Any] = {
        "page": page,
        "pageSize": page_size,
        "sortBy": "importedAt" if imported else "createdAt",
        "sortDir": "desc",
        "category": category,
        "search": search,
    }
    if is_public is not None and not imported:
        params["isPublic"] = "true" if is_public else "false"
    return _spec("list_imported_probe_packs" if imported else "list_probe_packs", _V2, params=params)


def create_assessment(
    model: str,
    *,
    test_types: Sequence[str] | None = None,
    probe_pack_ids: Sequence[str] | None = None,
    priority: str = "normal",
) -> RequestSpec:
    """``test_types`` (probe keys) go to the resources API, ``probe_pack_ids`` to v2: exactly one of them."""
    model = _identifier(model, "model")
    if (test_types is None) == (probe_pack_ids is None):
        raise ModelRedConfigurationError(
            "give exactly one of test_types (probe keys, resources API) "
            "or probe_pack_ids (probe packs, v2 API)"
        )
    if not isinstance(priority, str) or priority.lower() not in PRIORITIES:
        raise ModelRedConfigurationError(f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}")
    v2 = probe_pack_ids is not None
    chosen, what = (probe_pack_ids, "probe_pack_ids") if v2 else (test_types, "test_types")
    if isinstance(chosen, str) or not isinstance(chosen, Sequence):
        raise ModelRedConfigurationError(f"{what} must be a list of strings, got {type(chosen).__name__}")
    items = [_identifier(item, f"each entry of {what}") for item in chosen]
    if not items:
        raise ModelRedConfigurationError(f"{what} is empty: choose at least one")
    body = {"model": model, "probePackIds" if v2 else "testTypes": items, "priority": priority.lower()}
    return _spec("create_assessment", _V2 if v2 else _RES, json=body)


def get_assessment(assessment_id: str, api_generation: ApiGeneration = _RES) -> RequestSpec:
    return _spec("get_assessment", api_generation, id=_identifier(assessment_id, "assessment_id"))


def list_assessments(
    api_generation: ApiGeneration = _RES,
    *,
    page: int = 1,
    limit: int | None = None,
    status: AssessmentStatus | str | None = None,
    page_size: int = V2_PAGE_SIZE,
) -> RequestSpec:
    """Newest first. The resources API takes only ``limit``; v2 pages and filters by UPPERCASE status."""
    if ApiGeneration(api_generation) is _RES:
        return _spec("list_assessments", _RES, params={"limit": limit})
    wire_status = "all" if status is None else status_filter(status)
    params = {"page": page, "pageSize": page_size, "status": wire_status, "provider": "all", **_NEWEST_FIRST}
    return _spec("list_assessments", _V2, params=params)


def status_filter(status: AssessmentStatus | str) -> str:
    """Return the UPPERCASE wire value of a status filter (any case, or the enum); a clear error otherwise."""
    text = str(getattr(status, "value", status)).upper()
    if text not in AssessmentStatus.__members__:
        names = ", ".join(AssessmentStatus.__members__)
        raise ModelRedConfigurationError(f"status must be one of {names} (or None for all), got {status!r}")
    return text


def cancel_assessment(assessment_id: str) -> RequestSpec:
    return _spec(
        "cancel_assessment", _V2, json={"action": "cancel"}, id=_identifier(assessment_id, "assessment_id")
    )
