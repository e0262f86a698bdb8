"""``/api/models`` (shared by both generations), contract 1.2/1.3 and 2.2."""

from __future__ import annotations

import re

from .support import ISO_Z, assert_error

MODEL_FIELDS = {
    "id", "modelId", "provider", "modelName", "displayName", "description", "isActive", "lastTested",
    "testCount", "createdAt", "updatedAt", "organizationId",
}  # fmt: skip
REQUIRED_SLUGS = {"gpt-4o-prod", "claude-safe", "llama-weak", "broken-endpoint", "stuck-model"}


def test_list_models_envelope_and_fields(api):
    resp = api.get("/api/models", params={"page": "1", "pageSize": "100"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True
    assert (body["page"], body["pageSize"], body["totalPages"]) == (1, 100, 1)
    assert body["total"] == len(body["data"]) >= 5
    assert body["pagination"]["totalPages"] == 1
    slugs = {m["modelId"] for m in body["data"]}
    assert slugs >= REQUIRED_SLUGS
    assert len({m["provider"] for m in body["data"]}) >= 5
    for m in body["data"]:
        assert set(m) == MODEL_FIELDS
        assert m["provider"] == m["provider"].lower()
        assert isinstance(m["isActive"], bool) and isinstance(m["testCount"], int)
        assert re.match(ISO_Z, m["createdAt"]) and re.match(ISO_Z, m["updatedAt"])
        assert "providerConfig" not in m


def test_list_models_pages_tolerate_unknown_params(api):
    # Exactly what SDK 0.1.40 sends, including the stray SortDir.
    params = {"page": "2", "pageSize": "3", "status": "both", "sortBy": "createdAt", "sortDir": "desc"}
    resp = api.get("/api/models", params={**params, "SortDir": "desc"})
    assert resp.status_code == 200
    body = resp.json()
    all_models = api.get("/api/models", params={"pageSize": "100", "sortBy": "createdAt", "sortDir": "desc"})
    everything = all_models.json()["data"]
    assert body["data"] == everything[3:6]
    assert body["total"] == len(everything)
    assert body["totalPages"] == -(-len(everything) // 3)
    assert [m["createdAt"] for m in everything] == sorted((m["createdAt"] for m in everything), reverse=True)


def test_list_models_filters_and_sort(api):
    inactive = api.get("/api/models", params={"status": "inactive", "pageSize": "100"}).json()["data"]
    assert [m["modelId"] for m in inactive] == ["grok-legacy"]
    active = api.get("/api/models", params={"status": "active", "pageSize": "100"}).json()["data"]
    assert all(m["isActive"] for m in active) and "grok-legacy" not in {m["modelId"] for m in active}
    openai = api.get("/api/models", params={"provider": "openai", "pageSize": "100"}).json()["data"]
    assert [m["modelId"] for m in openai] == ["gpt-4o-prod"]
    found = api.get("/api/models", params={"search": "LLAMA"}).json()["data"]
    assert [m["modelId"] for m in found] == ["llama-weak"]
    by_name = api.get("/api/models", params={"sortBy": "displayName", "sortDir": "asc", "pageSize": "100"})
    names = [m["displayName"].lower() for m in by_name.json()["data"]]
    assert names == sorted(names)


def test_list_models_page_size_is_capped_at_100(api):
    assert api.get("/api/models", params={"pageSize": "500"}).json()["pageSize"] == 100


def test_list_models_bad_query_is_a_validation_error(api, api2):
    body = assert_error(
        api.get("/api/models", params={"pageSize": "ten"}), 422, "VALIDATION_ERROR", "pageSize"
    )
    assert body["details"] == {"parameter": "pageSize"}
    assert_error(
        api.get("/api/models", params={"status": "all"}), 422, "VALIDATION_ERROR", "active, inactive"
    )
    assert_error(api.get("/api/models", params={"sortBy": "score"}), 422, "VALIDATION_ERROR", "sortBy")
    # A v2 client (x-api-key) gets the v2 status for validation errors: 400.
    assert_error(api2.get("/api/models", params={"sortDir": "up"}), 400, "VALIDATION_ERROR", "sortDir")


def test_get_model_by_slug_and_by_id(api):
    by_slug = api.get("/api/models/claude-safe")
    assert by_slug.status_code == 200
    model = by_slug.json()["data"]
    assert model["modelId"] == "claude-safe" and model["provider"] == "anthropic"
    by_id = api.get(f"/api/models/{model['id']}").json()["data"]
    assert by_id == model


def test_get_unknown_model_is_404(api):
    body = assert_error(api.get("/api/models/nope-model"), 404, "MODEL_NOT_FOUND", "nope-model")
    assert body["details"] == {"model": "nope-model"}


def test_create_get_delete_model(api):
    new = {
        "modelId": "contract-test-model",
        "provider": "openai",
        "displayName": "Contract test model",
        "providerConfig": {"apiKey": "sk-never-echoed", "model": "gpt-4o-mini"},
        "description": "made by a test",
    }
    created = api.post("/api/models", json=new)
    assert created.status_code == 201
    data = created.json()["data"]
    assert set(data) == MODEL_FIELDS
    assert (data["modelId"], data["provider"], data["displayName"]) == (
        "contract-test-model",
        "openai",
        "Contract test model",
    )
    assert data["modelName"] == "gpt-4o-mini" and data["isActive"] is True and data["testCount"] == 0
    assert "sk-never-echoed" not in created.text
    assert api.get("/api/models/contract-test-model").json()["data"]["id"] == data["id"]
    assert_error(api.post("/api/models", json=new), 409, "MODEL_EXISTS", "Model already exists")
    deleted = api.delete(f"/api/models/{data['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert_error(api.get("/api/models/contract-test-model"), 404, "MODEL_NOT_FOUND")
    assert_error(api.delete(f"/api/models/{data['id']}"), 404, "MODEL_NOT_FOUND")


def test_create_model_validation_names_each_field(api):
    body = assert_error(api.post("/api/models", json={"provider": "skynet"}), 422, "VALIDATION_ERROR")
    assert set(body["details"]) == {"modelId", "provider", "displayName", "providerConfig"}
    assert "provider" in body["error"] and "openai" in body["details"]["provider"]
    assert_error(api.post("/api/models", data="{nope"), 422, "INVALID_JSON", "not valid JSON")
