"""The resources API (E2): ``/api/assessments`` and the ``/api/probes`` catalogue (contract 1.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelred_provider.testing import catalogue
from modelred_provider.testing.errors import RESOURCES, not_found, validation_error
from modelred_provider.testing.serialize import assessment_wire, probe_wire
from modelred_provider.testing.state import PRIORITIES, STATUSES, EmulatorState
from modelred_provider.testing.wire import (
    Caller,
    authenticate,
    json_body,
    ok,
    page_envelope,
    q_choice,
    q_int,
    state_of,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

__all__ = [
    "GEN",
    "check_priority",
    "create_assessment",
    "get_assessment",
    "list_assessments",
    "list_probes",
    "resolve_model",
]

GEN = RESOURCES


def check_priority(body: dict[str, Any], generation: str) -> str:
    priority = body.get("priority", "normal")
    if priority is None:
        return "normal"
    if not isinstance(priority, str) or priority.lower() not in PRIORITIES:
        raise validation_error(
            generation,
            f"priority must be one of {', '.join(PRIORITIES)}; got {priority!r}",
            {"field": "priority", "allowed": list(PRIORITIES)},
        )
    return priority.lower()


def resolve_model(
    state: EmulatorState, caller: Caller, ident: Any, field: str, generation: str
) -> dict[str, Any]:
    if not isinstance(ident, str) or not ident.strip():
        raise validation_error(
            generation,
            f"{field} is required: the model's slug (modelId) or id, see GET /api/models",
            {"field": field},
        )
    model = state.find_model(ident, caller.orgs)
    if model is None:
        raise not_found(
            f"Model '{ident}' not found. Register it in ModelRed or use a modelId from GET /api/models",
            "MODEL_NOT_FOUND",
            {"model": ident},
        )
    if not model.get("isActive", True):
        raise validation_error(
            generation,
            f"Model '{ident}' is inactive; activate it in ModelRed before assessing it",
            {"model": ident},
            "MODEL_INACTIVE",
        )
    return model


async def create_assessment(request: Request) -> JSONResponse:
    caller = authenticate(request)
    body = await json_body(request, GEN)
    st = state_of(request)
    test_types = body.get("testTypes")
    if not isinstance(test_types, list) or not all(isinstance(t, str) for t in test_types):
        raise validation_error(
            GEN, "testTypes is required: a list of probe keys from GET /api/probes", {"field": "testTypes"}
        )
    if not test_types:
        raise validation_error(
            GEN,
            "testTypes must not be empty: give at least one probe key from GET /api/probes",
            {"field": "testTypes"},
        )
    unknown = [t for t in test_types if t not in st.probes]
    if unknown:
        raise validation_error(
            GEN,
            f"Unknown probe key(s): {', '.join(repr(u) for u in unknown)}. See GET /api/probes for the keys",
            {"field": "testTypes", "unknown": unknown},
            "UNKNOWN_PROBE",
        )
    priority = check_priority(body, GEN)
    model = resolve_model(st, caller, body.get("model"), "model", GEN)
    keys = list(dict.fromkeys(test_types))
    record = st.create_assessment(
        generation=GEN,
        model=model,
        probe_keys=keys,
        probe_pack_ids=None,
        priority=priority,
        api_key=caller.api_key,
    )
    return ok({"data": assessment_wire(st, record, initial=True)}, 201)


async def get_assessment(request: Request) -> JSONResponse:
    caller = authenticate(request)
    st = state_of(request)
    record = st.get_assessment(request.path_params["id"], caller.orgs)
    return ok({"data": assessment_wire(st, record)})


async def list_assessments(request: Request) -> JSONResponse:
    """List assessments, newest first; without ``limit`` or ``pageSize``, every visible one.

    ``limit`` caps the list (the SDK's only parameter); ``page``/``pageSize`` and ``status`` work too.
    """
    caller = authenticate(request)
    st = state_of(request)
    limit = q_int(request, "limit", 0, GEN) if request.query_params.get("limit") else None
    status = q_choice(request, "status", ("all", *STATUSES), "all", GEN, case_insensitive=True)
    items = [assessment_wire(st, r) for r in st.list_assessments(caller.orgs)]
    if status != "all":
        items = [a for a in items if a["status"] == status]
    if limit is not None:
        items = items[:limit]
    size = q_int(request, "pageSize", max(1, len(items)), GEN)
    page = q_int(request, "page", 1, GEN)
    return ok(page_envelope(items, page, size, success=False))


async def list_probes(request: Request) -> JSONResponse:
    caller = authenticate(request)
    del caller
    st = state_of(request)
    size = q_int(request, "pageSize", 200, GEN, 200)
    page = q_int(request, "page", 1, GEN)
    probes = [probe_wire(p) for p in st.probes.values()]
    for name in ("category", "tier", "severity"):
        wanted = (request.query_params.get(name) or "").strip().lower()
        if wanted:
            probes = [p for p in probes if p[name] == wanted]
    env = page_envelope(probes, page, size, success=False)
    data = {
        "probes": env.pop("data"),
        "probe_categories": {
            c: {**v, "count": sum(1 for p in st.probes.values() if p["category"] == c)}
            for c, v in catalogue.PROBE_CATEGORIES.items()
        },
        "tier_definitions": catalogue.TIER_DEFINITIONS,
        "severity_levels": catalogue.SEVERITY_LEVELS,
    }
    return ok({"data": data, "meta": {"user_tier": "enterprise"}, **env})
