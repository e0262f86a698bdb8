"""Auth (contract 1.1, 1.4, 2.1, 2.3): keys, free tier, organisation scoping, the concurrency limit."""

from __future__ import annotations

import pytest
import requests

from modelred_provider.testing.emulator import ModelRedEmulator

from .support import FREE_KEY, GLOBEX_KEY, KEY, Api, assert_error

PLAN = (
    "API key access is only available on Pro and Enterprise plans. "
    "Please upgrade your subscription to use the ModelRed SDK."
)
ROUTES = [
    ("GET", "/api/models"),
    ("POST", "/api/models"),
    ("GET", "/api/models/gpt-4o-prod"),
    ("DELETE", "/api/models/gpt-4o-prod"),
    ("GET", "/api/assessments"),
    ("POST", "/api/assessments"),
    ("GET", "/api/assessments/asm_x"),
    ("GET", "/api/probes"),
    ("GET", "/api/v2/assessments"),
    ("POST", "/api/v2/assessments"),
    ("GET", "/api/v2/assessments/asm_x"),
    ("PATCH", "/api/v2/assessments/asm_x"),
    ("GET", "/api/v2/probes"),
    ("GET", "/api/v2/probes/imported"),
    ("GET", "/api/v2/probes/pack_jailbreak_core"),
    ("GET", "/api/v2/probes/pack_jailbreak_core/data"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_needs_a_valid_key(emu, method, path):
    for headers in (
        {},
        {"Authorization": "Bearer mr_wrong_key_999"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": f"Bearer {KEY}", "x-api-key": GLOBEX_KEY},
    ):
        resp = requests.request(method, emu.url + path, headers=headers, json={}, timeout=5)
        body = assert_error(resp, 401, "UNAUTHORIZED")
        assert body["error"] == "Invalid API key"
        assert KEY not in resp.text and "mr_wrong_key_999" not in resp.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_free_tier_key_gets_the_plan_message(emu, method, path):
    resp = Api(emu.url, FREE_KEY, v2=True).request(method, path, json={})
    body = assert_error(resp, 403, "SUBSCRIPTION_REQUIRED")
    assert body["error"] == PLAN
    assert body["tier"] == "free"


def test_either_header_carries_the_key(emu):
    bearer_only = requests.get(
        emu.url + "/api/v2/probes", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    x_only = requests.get(emu.url + "/api/v2/probes", headers={"x-api-key": KEY}, timeout=5)
    both = Api(emu.url, v2=True).get("/api/v2/probes")
    assert bearer_only.status_code == x_only.status_code == both.status_code == 200
    assert bearer_only.json() == x_only.json() == both.json()
    lower_scheme = requests.get(
        emu.url + "/api/models", headers={"authorization": f"bearer {KEY}"}, timeout=5
    )
    assert lower_scheme.status_code == 200


def test_control_api_and_dashboard_need_no_key(emu):
    assert requests.get(emu.url + "/_emulator/health", timeout=5).json()["status"] == "ok"
    assert requests.get(emu.url + "/assessments/asm_unknown", timeout=5).status_code == 404


def test_unknown_route_is_a_json_404(emu):
    assert_error(requests.get(emu.url + "/api/nothing", timeout=5), 404, "NOT_FOUND")


def test_organisation_header_scopes_models_and_assessments(emu):
    # Without the header a key acts in its primary organisation (org_acme for an unbound key).
    default = Api(emu.url).get("/api/models", params={"pageSize": "100"}).json()["data"]
    acme = Api(emu.url, org="org_acme")
    acme_models = acme.get("/api/models", params={"pageSize": "100"}).json()["data"]
    assert default == acme_models and {m["organizationId"] for m in acme_models} == {"org_acme"}
    globex = Api(emu.url, org="org_globex")
    globex_models = globex.get("/api/models", params={"pageSize": "100"}).json()["data"]
    assert {m["modelId"] for m in globex_models} == {"gemini-pro", "azure-gpt35", "sagemaker-falcon"}
    assert_error(acme.get("/api/models/gemini-pro"), 404, "MODEL_NOT_FOUND")
    assert globex.get("/api/models/gemini-pro").status_code == 200
    assert_error(
        acme.post("/api/assessments", json={"model": "gemini-pro", "testTypes": ["dan_classic"]}),
        404,
        "MODEL_NOT_FOUND",
    )
    created = globex.post("/api/assessments", json={"model": "gemini-pro", "testTypes": ["dan_classic"]})
    assert created.status_code == 201
    aid = created.json()["data"]["id"]
    assert_error(acme.get(f"/api/assessments/{aid}"), 404, "ASSESSMENT_NOT_FOUND")
    assert_error(Api(emu.url).get(f"/api/assessments/{aid}"), 404, "ASSESSMENT_NOT_FOUND")
    assert aid not in {a["id"] for a in acme.get("/api/assessments").json()["data"]}
    assert aid in {a["id"] for a in globex.get("/api/assessments").json()["data"]}
    assert globex.get(f"/api/assessments/{aid}").json()["data"]["id"] == aid
    # v2 packs follow the same organisation.
    owned = Api(emu.url, v2=True, org="org_globex").get("/api/v2/probes").json()["data"]
    assert {p["organizationId"] for p in owned} == {"org_globex"}
    # An organisation the key is not a member of.
    assert_error(
        Api(emu.url, org="org_unknown").get("/api/models"), 403, "ORGANIZATION_FORBIDDEN", "org_unknown"
    )


def test_key_bound_to_an_organisation(emu):
    bound = Api(emu.url, GLOBEX_KEY)
    models = bound.get("/api/models", params={"pageSize": "100"}).json()["data"]
    assert models and {m["organizationId"] for m in models} == {"org_globex"}
    assert bound.get("/api/models/gemini-pro").status_code == 200
    assert_error(bound.get("/api/models/gpt-4o-prod"), 404, "MODEL_NOT_FOUND")
    same = Api(emu.url, GLOBEX_KEY, org="org_globex").get("/api/models", params={"pageSize": "100"})
    assert same.json()["data"] == models
    body = assert_error(
        Api(emu.url, GLOBEX_KEY, org="org_acme").get("/api/models"), 403, "ORGANIZATION_FORBIDDEN"
    )
    assert "org_acme" in body["error"]
    # Not a plan message: the SDKs must not read it as a subscription limit.
    assert not any(
        word in body["error"].lower() for word in ("limit", "subscription", "tier", "upgrade", "plan")
    )


def test_max_concurrent_assessments_per_key():
    with ModelRedEmulator(api_keys=(KEY, GLOBEX_KEY), max_concurrent=2, assessment_seconds=60) as emu:
        api = Api(emu.url)
        body = {"model": "stuck-model", "testTypes": ["dan_classic"]}
        ids = [api.post("/api/assessments", json=body).json()["data"]["id"] for _ in range(2)]
        refused = assert_error(api.post("/api/assessments", json=body), 403, "CONCURRENT_LIMIT_REACHED")
        assert refused["error"] == "Maximum concurrent assessments reached"
        assert refused["details"] == {"limit": 2, "active": 2}
        v2 = {"model": "stuck-model", "probePackIds": ["pack_jailbreak_core"]}
        assert_error(
            Api(emu.url, v2=True).post("/api/v2/assessments", json=v2), 403, "CONCURRENT_LIMIT_REACHED"
        )
        assert emu.created_assessments() == ids
        # The limit is per key: another key may still start one.
        other = Api(emu.url, GLOBEX_KEY).post(
            "/api/assessments", json={"model": "claude-safe", "testTypes": ["dan_classic"]}
        )
        assert other.status_code == 201
        # Ending one (as from the web UI) frees a slot.
        emu.cancel_assessment(ids[0])
        assert api.post("/api/assessments", json=body).status_code == 201


def test_constructor_rejects_bad_keys():
    with pytest.raises(ValueError, match="starting with 'mr_'"):
        ModelRedEmulator(api_keys=("sk-not-modelred",))
    with pytest.raises(ValueError, match="at least one API key"):
        ModelRedEmulator(api_keys=())
    with pytest.raises(ValueError, match="key_orgs"):
        ModelRedEmulator(key_orgs={"mr_someone_else_1": ["org_acme"]})
