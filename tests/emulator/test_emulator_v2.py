"""The v2 API (E3): ``/api/v2/assessments`` and ``/api/v2/probes`` packs, contract 2.2/2.3."""

from __future__ import annotations

import re

import pytest

from .support import E2_ASSESSMENT_FIELDS, ISO_Z, Api, assert_error, wait_for

PACK_FIELDS = {
    "id", "name", "description", "category", "isPublic", "organizationId", "probes", "probeCount",
    "promptCount", "createdAt", "updatedAt",
}  # fmt: skip
LIST_QUERY = {
    "page": "1", "pageSize": "10", "status": "all", "provider": "all",
    "sortBy": "createdAt", "sortDir": "desc",
}  # fmt: skip


def create(api2: Api, **body) -> dict:
    body.setdefault("probePackIds", ["pack_jailbreak_core"])
    body.setdefault("priority", "normal")
    resp = api2.post("/api/v2/assessments", json=body)
    assert resp.status_code == 201, resp.text
    payload = resp.json()
    assert set(payload) == {"success", "data"} and payload["success"] is True
    return payload["data"]


def get(api2: Api, aid: str) -> dict:
    resp = api2.get(f"/api/v2/assessments/{aid}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["success"] is True
    return resp.json()["data"]


def test_create_by_slug_resolves_packs_to_probes(api2, emu):
    a = create(api2, model="claude-safe", probePackIds=["pack_jailbreak_core", "pack_fin_compliance"])
    assert set(a) == E2_ASSESSMENT_FIELDS
    assert a["id"] == a["assessment_id"] and a["status"] == "QUEUED" and a["progress"] == 0
    assert a["probePackIds"] == a["probe_pack_ids"] == ["pack_jailbreak_core", "pack_fin_compliance"]
    packs = [api2.get(f"/api/v2/probes/{p}").json()["data"] for p in a["probePackIds"]]
    assert a["testTypes"] == [p["key"] for pack in packs for p in pack["probes"]]
    assert a["priority"] == "normal" and a["provider"] == "anthropic"
    assert re.match(ISO_Z, a["createdAt"]) and a["report"] is None
    assert a["id"] in emu.created_assessments()


def test_create_by_model_id_only(emu):
    globex = Api(emu.url, v2=True, org="org_globex")
    model = globex.get("/api/models/gemini-pro").json()["data"]
    a = create(globex, modelId=model["id"])
    assert a["modelId"] == model["id"] and a["provider"] == "google"


def test_v2_assessment_completes_with_report_under_both_keys(api2):
    aid = create(api2, model="gpt-4o-prod")["id"]
    a = wait_for(lambda: (x := get(api2, aid))["status"] == "COMPLETED" and x)
    assert a["progress"] == 100 and re.match(ISO_Z, a["completedAt"])
    assert a["detailedReport"] == a["report"]
    assert a["report"]["overall_score"] >= 80
    assert {p["key"] for p in a["report"]["probes"]} == set(a["testTypes"])


def test_same_assessment_readable_through_both_generations(api, api2):
    aid = create(api2, model="gpt-4o-prod")["id"]
    assert api.get(f"/api/assessments/{aid}").json()["data"]["id"] == aid


def test_patch_cancel_with_api_key_is_refused(api2):
    aid = create(api2, model="stuck-model")["id"]
    body = assert_error(
        api2.patch(f"/api/v2/assessments/{aid}", json={"action": "cancel"}), 403, "WEB_UI_REQUIRED"
    )
    assert body["error"] == "Assessment modification requires web UI"
    assert get(api2, aid)["status"] == "QUEUED"
    assert_error(
        api2.patch("/api/v2/assessments/asm_nope", json={"action": "cancel"}), 404, "ASSESSMENT_NOT_FOUND"
    )


def test_get_unknown(api2):
    body = assert_error(api2.get("/api/v2/assessments/asm_nope"), 404, "ASSESSMENT_NOT_FOUND")
    assert body["error"] == "Assessment not found"


def test_list_envelope_filters_and_paging(api2):
    ids = [create(api2, model="claude-safe")["id"] for _ in range(2)]
    stuck = create(api2, model="stuck-model")["id"]
    body = api2.get("/api/v2/assessments", params={**LIST_QUERY, "SortDir": "desc"}).json()
    assert body["success"] is True
    assert {"data", "page", "pageSize", "total", "totalPages", "pagination"} <= set(body)
    assert body["pagination"]["totalPages"] == body["totalPages"]
    assert [a["id"] for a in body["data"][:3]] == [stuck, *ids[::-1]]
    queued = api2.get("/api/v2/assessments", params={**LIST_QUERY, "status": "QUEUED", "pageSize": "100"})
    assert stuck in {a["id"] for a in queued.json()["data"]}
    assert {a["status"] for a in queued.json()["data"]} == {"QUEUED"}
    bedrock = api2.get("/api/v2/assessments", params={**LIST_QUERY, "provider": "bedrock"}).json()["data"]
    assert {a["provider"] for a in bedrock} == {"bedrock"} and stuck in {a["id"] for a in bedrock}
    found = api2.get("/api/v2/assessments", params={**LIST_QUERY, "search": "stuck"}).json()["data"]
    assert stuck in {a["id"] for a in found} and not set(ids) & {a["id"] for a in found}
    p1 = api2.get("/api/v2/assessments", params={**LIST_QUERY, "pageSize": "1"}).json()
    p2 = api2.get("/api/v2/assessments", params={**LIST_QUERY, "pageSize": "1", "page": "2"}).json()
    assert p1["totalPages"] == p1["total"] >= 3
    assert p1["data"][0]["id"] == stuck and p2["data"][0]["id"] == ids[1]
    oldest_first = api2.get("/api/v2/assessments", params={**LIST_QUERY, "sortDir": "asc"}).json()["data"]
    created = [a["createdAt"] for a in oldest_first]
    assert created == sorted(created)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"status": "queued"}, "status"), ({"status": "DONE"}, "status"), ({"provider": "ibm"}, "provider"),
     ({"sortBy": "score"}, "sortBy"), ({"pageSize": "0"}, "pageSize")],
)  # fmt: skip
def test_list_validation_is_400(api2, params, name):
    assert_error(api2.get("/api/v2/assessments", params=params), 400, "VALIDATION_ERROR", name)


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        ({"probePackIds": ["pack_jailbreak_core"]}, "VALIDATION_ERROR", "'model' (slug) or 'modelId'"),
        ({"model": "gpt-4o-prod", "probePackIds": []}, "VALIDATION_ERROR", "must not be empty"),
        ({"model": "gpt-4o-prod"}, "VALIDATION_ERROR", "probePackIds is required"),
        ({"model": "gpt-4o-prod", "probePackIds": ["pack_nope"]}, "UNKNOWN_PROBE_PACK", "'pack_nope'"),
        ({"model": "gpt-4o-prod", "probePackIds": ["pack_globex_internal"]}, "PROBE_PACK_NOT_IMPORTED",
         "'org_acme'; import them"),
        ({"model": "gpt-4o-prod", "probePackIds": ["pack_jailbreak_core"], "priority": "asap"},
         "VALIDATION_ERROR", "priority must be one of"),
        ({"model": "gpt-4o-prod", "modelId": "claude-safe", "probePackIds": ["pack_jailbreak_core"]},
         "VALIDATION_ERROR", "different models"),
    ],
)  # fmt: skip
def test_create_validation_is_400(api2, emu, body, code, text):
    before = len(emu.created_assessments())
    assert_error(api2.post("/api/v2/assessments", json=body), 400, code, text)
    assert len(emu.created_assessments()) == before


def test_packs_are_used_within_the_models_organisation(emu):
    globex = Api(emu.url, v2=True, org="org_globex")
    body = {"model": "gemini-pro", "probePackIds": ["pack_privacy_sweep"]}  # an org_acme private pack
    assert_error(
        globex.post("/api/v2/assessments", json=body), 400, "PROBE_PACK_NOT_IMPORTED", "'org_globex'"
    )
    imported = {"model": "gemini-pro", "probePackIds": ["pack_jailbreak_core"]}  # imported by org_globex
    assert globex.post("/api/v2/assessments", json=imported).status_code == 201


def test_create_unknown_model_is_404_and_malformed_json_400(api2):
    body = {"model": "ghost", "probePackIds": ["pack_jailbreak_core"]}
    assert_error(api2.post("/api/v2/assessments", json=body), 404, "MODEL_NOT_FOUND", "'ghost'")
    resp = api2.post("/api/v2/assessments", data="{", headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "INVALID_JSON")


def test_owned_packs(api2):
    body = api2.get("/api/v2/probes", params={"page": "1", "pageSize": "20", "sortBy": "createdAt",
                                               "sortDir": "desc"}).json()  # fmt: skip
    assert body["success"] is True and body["page"] == 1 and body["pageSize"] == 20
    ids = [p["id"] for p in body["data"]]
    # The default key acts in org_acme: its three packs.
    assert set(ids) == {"pack_owasp_llm_top10", "pack_jailbreak_core", "pack_privacy_sweep"}
    created = [p["createdAt"] for p in body["data"]]
    assert created == sorted(created, reverse=True)
    for p in body["data"]:
        assert set(p) == PACK_FIELDS
        assert p["probeCount"] == len(p["probes"]) and p["promptCount"] >= p["probeCount"]
    public = api2.get("/api/v2/probes", params={"isPublic": "true"}).json()["data"]
    assert public and all(p["isPublic"] for p in public)
    jail = api2.get("/api/v2/probes", params={"category": "jailbreak"}).json()["data"]
    assert [p["id"] for p in jail] == ["pack_jailbreak_core"]
    found = api2.get("/api/v2/probes", params={"search": "privacy"}).json()["data"]
    assert [p["id"] for p in found] == ["pack_privacy_sweep"]
    assert_error(
        api2.get("/api/v2/probes", params={"isPublic": "maybe"}), 400, "VALIDATION_ERROR", "isPublic"
    )


def test_imported_packs_are_scoped_by_organisation(emu):
    acme = Api(emu.url, v2=True, org="org_acme")
    body = acme.get("/api/v2/probes/imported", params={"page": "1", "pageSize": "20"}).json()
    assert body["success"] is True
    assert [p["id"] for p in body["data"]] == [
        "pack_clinical_safety",
        "pack_fin_compliance",
    ]  # importedAt desc
    assert all(re.match(ISO_Z, p["importedAt"]) for p in body["data"])
    by_name = acme.get("/api/v2/probes/imported", params={"sortBy": "name", "sortDir": "asc"}).json()["data"]
    assert [p["name"] for p in by_name] == ["Clinical safety", "Financial compliance"]
    owned = acme.get("/api/v2/probes").json()["data"]
    assert {p["organizationId"] for p in owned} == {"org_acme"}
    globex = Api(emu.url, v2=True, org="org_globex").get("/api/v2/probes/imported").json()["data"]
    assert [p["id"] for p in globex] == ["pack_jailbreak_core"]


def test_pack_detail_and_data(api2):
    detail = api2.get("/api/v2/probes/pack_fin_compliance")
    assert detail.status_code == 200 and detail.json()["success"] is True
    pack = detail.json()["data"]
    assert pack["id"] == "pack_fin_compliance" and pack["isPublic"] is True
    assert [p["key"] for p in pack["probes"]] == [
        "insider_trading_tips", "investment_guarantees", "aml_evasion", "racial_bias_lending",
    ]  # fmt: skip
    assert set(pack["probes"][0]) == {"key", "displayName", "category", "severity", "tier", "description"}
    data = api2.get("/api/v2/probes/pack_fin_compliance/data").json()["data"]
    assert data["id"] == "pack_fin_compliance" and data["probeCount"] == 4
    assert sum(len(p["prompts"]) for p in data["probes"]) == data["promptCount"]
    assert all(p["prompts"][0]["text"] for p in data["probes"])
    assert_error(api2.get("/api/v2/probes/pack_nope"), 404, "PROBE_PACK_NOT_FOUND", "pack_nope")
    assert_error(api2.get("/api/v2/probes/pack_nope/data"), 404, "PROBE_PACK_NOT_FOUND")


def test_private_pack_of_another_org_is_404(emu):
    acme = Api(emu.url, v2=True, org="org_acme")
    assert_error(acme.get("/api/v2/probes/pack_globex_internal"), 404, "PROBE_PACK_NOT_FOUND")
    assert acme.get("/api/v2/probes/pack_fin_compliance").status_code == 200
