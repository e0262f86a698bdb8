"""``/api/models``: shared by both API generations (contract 1.2 and 2.2)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from modelred_provider.testing import catalogue
from modelred_provider.testing.errors import ApiError, not_found, validation_error
from modelred_provider.testing.serialize import model_wire
from modelred_provider.testing.state import iso
from modelred_provider.testing.wire import (
    authenticate,
    generation_of_models_route,
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

__all__ = ["MAX_PAGE_SIZE", "create_model", "delete_model", "get_model", "list_models"]

_MODEL_SORT_FIELDS = (
    "displayName",
    "provider",
    "modelId",
    "modelName",
    "isActive",
    "testCount",
    "lastTested",
    "createdAt",
)
MAX_PAGE_SIZE = 100


async def list_models(request: Request) -> JSONResponse:
    caller = authenticate(request)
    gen = generation_of_models_route(request)
    page = q_int(request, "page", 1, gen)
    size = q_int(request, "pageSize", 10, gen, MAX_PAGE_SIZE)
    status = q_choice(request, "status", ("active", "inactive", "both"), "both", gen)
    provider = request.query_params.get("provider") or "all"
    sort_by = q_choice(request, "sortBy", _MODEL_SORT_FIELDS, "createdAt", gen)
    sort_dir = q_choice(request, "sortDir", ("asc", "desc"), "desc", gen)
    search = (request.query_params.get("search") or "").strip().lower()

    items = [model_wire(m) for m in state_of(request).list_models(caller.orgs)]
    if status != "both":
        items = [m for m in items if m["isActive"] == (status == "active")]
    if provider.lower() != "all":
        items = [m for m in items if m["provider"] == provider.lower()]
    if search:
        items = [
            m
            for m in items
            if any(
                search in str(m.get(f) or "").lower()
                for f in ("displayName", "modelId", "modelName", "description")
            )
        ]
    items = sort_items(items, sort_by or "createdAt", sort_dir or "desc")
    return ok(page_envelope(items, page, size, success=True))


async def get_model(request: Request) -> JSONResponse:
    caller = authenticate(request)
    ident = request.path_params["id"]
    model = state_of(request).find_model(ident, caller.orgs)
    if model is None:
        raise not_found(f"Model '{ident}' not found", "MODEL_NOT_FOUND", {"model": ident})
    return ok({"success": True, "data": model_wire(model)})


async def create_model(request: Request) -> JSONResponse:
    caller = authenticate(request)
    gen = generation_of_models_route(request)
    body = await json_body(request, gen)
    problems: dict[str, str] = {}
    model_id = body.get("modelId")
    if not isinstance(model_id, str) or not model_id.strip():
        problems["modelId"] = (
            "required: a non-empty string (your identifier for the model, e.g. 'gpt-4o-prod')"
        )
    provider = body.get("provider")
    if not isinstance(provider, str) or provider.lower() not in catalogue.PROVIDERS:
        problems["provider"] = f"required: one of {', '.join(catalogue.PROVIDERS)}"
    display = body.get("displayName")
    if not isinstance(display, str) or not display.strip():
        problems["displayName"] = "required: a non-empty string"
    config = body.get("providerConfig")
    if not isinstance(config, dict):
        problems["providerConfig"] = "required: an object with the provider's settings"
    desc = body.get("description")
    if desc is not None and not isinstance(desc, str):
        problems["description"] = "must be a string"
    if problems:
        raise validation_error(
            gen, "Invalid model: " + "; ".join(f"{k} {v}" for k, v in problems.items()), problems
        )
    if not (
        isinstance(model_id, str)
        and isinstance(provider, str)
        and isinstance(display, str)
        and isinstance(config, dict)
    ):
        raise TypeError("checked above: modelId, provider, displayName and providerConfig")
    org = next(iter(caller.orgs))  # the one organisation the request acts in
    now = iso(time.time())
    record = catalogue.model_record(
        model_id,
        provider=provider.lower(),
        model_name=str(config.get("model") or config.get("modelName") or model_id),
        display_name=display,
        description=desc,
        organization_id=org,
        created_at=now,
        record_id=catalogue.stable_id("mdl_", model_id + now),
    )
    record["providerConfig"] = config  # stored, never echoed (model_wire leaves it out)
    state_of(request).create_model(record)
    return ok({"success": True, "data": model_wire(record)}, 201)


async def delete_model(request: Request) -> JSONResponse:
    caller = authenticate(request)
    ident = request.path_params["id"]
    st = state_of(request)
    model = st.find_model(ident, caller.orgs)
    if model is None:
        raise not_found(f"Model '{ident}' not found", "MODEL_NOT_FOUND", {"model": ident})
    try:
        st.delete_model(model["id"])
    except KeyError:
        raise ApiError(404, f"Model '{ident}' not found", "MODEL_NOT_FOUND", {"model": ident}) from None
    return ok({"success": True})
