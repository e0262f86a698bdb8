"""The v2 API (E3): ``/api/v2/assessments`` and ``/api/v2/probes`` (probe packs), contract 2.2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelred_provider.testing import catalogue
from modelred_provider.testing.errors import V2, ApiError, not_found, validation_error
from modelred_provider.testing.routes_resources import check_priority, resolve_model
from modelred_provider.testing.serialize import assessment_wire, pack_wire
from modelred_provider.testing.state import STATUSES
from modelred_provider.testing.wire import (
    authenticate,
    json_body,
    ok,
    page_envelope,
    q_choice,
    q_int,
    sort_items,
    state_of,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

__all__ = [
    "GEN",
    "MAX_PAGE_SIZE",
    "create_assessment",
    "get_assessment",
    "get_pack",
    "get_pack_data",
    "list_assessments",
    "list_imported_packs",
    "list_owned_packs",
    "patch_assessment",
]

GEN = V2
MAX_PAGE_SIZE = 100
_ASSESSMENT_SORT_FIELDS = ("createdAt", "completedAt", "status", "priority", "progress")
_PACK_SORT_FIELDS = ("createdAt", "name", "category", "probeCount", "promptCount")
_IMPORTED_SORT_FIELDS = ("importedAt", "name", "category", "probeCount", "promptCount")
_WEB_UI_MESSAGE = "Assessment modification requires web UI"


async def create_assessment(request: Request) -> JSONResponse:
    caller = authenticate(request)
    body = await json_body(request, GEN)
    st = state_of(request)
    slug, model_id = body.get("model"), body.get("modelId")
    if slug is None and model_id is None:
        raise validation_error(
            GEN, "Give 'model' (slug) or 'modelId' (id) of a model from GET /api/models", {"field": "model"}
        )
    model = resolve_model(
        st, caller, slug if slug is not None else model_id, "model" if slug is not None else "modelId", GEN
    )
    if slug is not None and model_id is not None:
        other = resolve_model(st, caller, model_id, "modelId", GEN)
        if other["id"] != model["id"]:
            raise validation_error(
                GEN,
                f"'model' ({slug!r}) and 'modelId' ({model_id!r}) name different models; send one of them",
                {"model": slug, "modelId": model_id},
            )
    packs = body.get("probePackIds")
    if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
        raise validation_error(
            GEN,
            "probePackIds is required: a list of probe pack ids from GET /api/v2/probes",
            {"field": "probePackIds"},
        )
    if not packs:
        raise validation_error(
            GEN,
            "probePackIds must not be empty: give at least one probe pack id from GET /api/v2/probes",
            {"field": "probePackIds"},
        )
    # Packs are used within the model's organisation: owned by it or imported into it.
    org = model["organizationId"]
    usable = st.usable_pack_ids(frozenset({org}))
    unknown = [p for p in packs if p not in st.packs]
    if unknown:
        raise validation_error(
            GEN,
            f"Unknown probe pack id(s): {', '.join(repr(u) for u in unknown)}. See GET /api/v2/probes "
            "and GET /api/v2/probes/imported",
            {"field": "probePackIds", "unknown": unknown},
            "UNKNOWN_PROBE_PACK",
        )
    foreign = [p for p in packs if p not in usable]
    if foreign:
        raise validation_error(
            GEN,
            f"Probe pack(s) {', '.join(repr(f) for f in foreign)} are neither owned nor imported by the "
            f"model's organization '{org}'; import them in the ModelRed web UI first",
            {"field": "probePackIds", "notImported": foreign},
            "PROBE_PACK_NOT_IMPORTED",
        )
    priority = check_priority(body, GEN)
    pack_ids = list(dict.fromkeys(packs))
    keys = list(dict.fromkeys(k for pid in pack_ids for k in st.packs[pid]["probeKeys"]))
    record = st.create_assessment(
        generation=GEN,
        model=model,
        probe_keys=keys,
        probe_pack_ids=pack_ids,
        priority=priority,
        api_key=caller.api_key,
    )
    return ok({"success": True, "data": assessment_wire(st, record, initial=True)}, 201)


async def get_assessment(request: Request) -> JSONResponse:
    caller = authenticate(request)
    st = state_of(request)
    record = st.get_assessment(request.path_params["id"], caller.orgs)
    return ok({"success": True, "data": assessment_wire(st, record)})


async def patch_assessment(request: Request) -> JSONResponse:
    """Cancel is a web-UI action: an API key always gets 403 (after the 404 check)."""
    caller = authenticate(request)
    body = await json_body(request, GEN)
    st = state_of(request)
    st.get_assessment(request.path_params["id"], caller.orgs)
    action = body.get("action")
    raise ApiError(403, _WEB_UI_MESSAGE, "WEB_UI_REQUIRED", {"action": action})


async def list_assessments(request: Request) -> JSONResponse:
    caller = authenticate(request)
    st = state_of(request)
    page = q_int(request, "page", 1, GEN)
    size = q_int(request, "pageSize", 10, GEN, MAX_PAGE_SIZE)
    status = q_choice(request, "status", ("all", *STATUSES), "all", GEN)
    provider = q_choice(request, "provider", ("all", *catalogue.PROVIDERS), "all", GEN)
    sort_by = q_choice(request, "sortBy", _ASSESSMENT_SORT_FIELDS, "createdAt", GEN)
    sort_dir = q_choice(request, "sortDir", ("asc", "desc"), "desc", GEN)
    search = (request.query_params.get("search") or "").strip().lower()
    records = st.list_assessments(caller.orgs)
    if search:
        records = [
            r
            for r in records
            if search in r.id.lower()
            or search in r.model["modelId"].lower()
            or search in str(r.model.get("displayName") or "").lower()
        ]
    items = [assessment_wire(st, r) for r in records]
    if status != "all":
        items = [a for a in items if a["status"] == status]
    if provider != "all":
        items = [a for a in items if a["provider"] == provider]
    items = sort_items(items, sort_by or "createdAt", sort_dir or "desc")
    return ok(page_envelope(items, page, size, success=True))


def _filter_packs(
    request: Request, items: list[dict], sort_fields: tuple[str, ...], default_sort: str
) -> dict:
    page = q_int(request, "page", 1, GEN)
    size = q_int(request, "pageSize", 20, GEN, MAX_PAGE_SIZE)
    sort_by = q_choice(request, "sortBy", sort_fields, default_sort, GEN)
    sort_dir = q_choice(request, "sortDir", ("asc", "desc"), "desc", GEN)
    is_public = q_choice(request, "isPublic", ("true", "false"), None, GEN, case_insensitive=True)
    category = (request.query_params.get("category") or "").strip().lower()
    search = (request.query_params.get("search") or "").strip().lower()
    if category:
        items = [p for p in items if p["category"] == category]
    if is_public is not None:
        items = [p for p in items if p["isPublic"] == (is_public == "true")]
    if search:
        items = [
            p for p in items if search in p["name"].lower() or search in str(p.get("description")).lower()
        ]
    items = sort_items(items, sort_by or default_sort, sort_dir or "desc")
    return page_envelope(items, page, size, success=True)


async def list_owned_packs(request: Request) -> JSONResponse:
    caller = authenticate(request)
    items = [pack_wire(p) for p in state_of(request).owned_packs(caller.orgs)]
    return ok(_filter_packs(request, items, _PACK_SORT_FIELDS, "createdAt"))


async def list_imported_packs(request: Request) -> JSONResponse:
    caller = authenticate(request)
    items = [pack_wire(p, at) for p, at in state_of(request).imported_packs(caller.orgs)]
    return ok(_filter_packs(request, items, _IMPORTED_SORT_FIELDS, "importedAt"))


def _visible_pack(request: Request) -> tuple[dict, str | None]:
    caller = authenticate(request)
    st = state_of(request)
    pack_id = request.path_params["id"]
    pack = st.packs.get(pack_id)
    if pack is not None:
        if pack["organizationId"] in caller.orgs:
            return pack, None
        for p, at in st.imported_packs(caller.orgs):
            if p["id"] == pack_id:
                return pack, at
        if pack["isPublic"]:
            return pack, None
    raise not_found(f"Probe pack '{pack_id}' not found", "PROBE_PACK_NOT_FOUND", {"probePackId": pack_id})


async def get_pack(request: Request) -> JSONResponse:
    pack, imported_at = _visible_pack(request)
    st = state_of(request)
    data = pack_wire(pack, imported_at)
    data["probes"] = [
        {k: st.probes[key][k] for k in ("key", "displayName", "category", "severity", "tier", "description")}
        for key in pack["probeKeys"]
    ]
    return ok({"success": True, "data": data})


async def get_pack_data(request: Request) -> JSONResponse:
    pack, _ = _visible_pack(request)
    st = state_of(request)
    probes = []
    for key in pack["probeKeys"]:
        p = st.probes[key]
        prompts = [
            {"id": f"{key}-{i + 1}", "text": f"[{p['displayName']}] attack case {i + 1}: {p['description']}"}
            for i in range(catalogue.PROMPTS_PER_PROBE)
        ]
        probes.append(
            {
                "key": key,
                "displayName": p["displayName"],
                "category": p["category"],
                "severity": p["severity"],
                "prompts": prompts,
            }
        )
    return ok(
        {
            "success": True,
            "data": {
                "id": pack["id"],
                "name": pack["name"],
                "probeCount": pack["probeCount"],
                "promptCount": pack["promptCount"],
                "probes": probes,
            },
        }
    )
