"""``GET /api/probes``: the E2 probe catalogue (contract 1.2/1.3)."""

from __future__ import annotations

PROBE_FIELDS = {
    "id", "key", "display_name", "displayName", "description", "estimated_time", "tags", "category", "tier",
    "severity", "isActive", "version",
}  # fmt: skip
CATEGORIES = {
    "prompt_injection", "jailbreak", "data_leakage", "pii_leaks", "toxicity", "bias", "universal",
    "medical_ethics", "legal_ethics", "financial_compliance", "cyber_operations",
}  # fmt: skip


def test_catalogue_shape(api):
    resp = api.get("/api/probes", params={"pageSize": "200"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["meta"] == {"user_tier": "enterprise"}
    data = body["data"]
    assert set(data) == {"probes", "probe_categories", "tier_definitions", "severity_levels"}
    probes = data["probes"]
    assert len(probes) >= 30 and body["total"] == len(probes) and body["pageSize"] == 200
    assert len({p["key"] for p in probes}) == len(probes)
    for p in probes:
        assert set(p) == PROBE_FIELDS
        assert p["display_name"] == p["displayName"]
        assert p["isActive"] is True and p["version"] == "1.0"
        assert isinstance(p["estimated_time"], int) and isinstance(p["tags"], list)
    assert {p["category"] for p in probes} == CATEGORIES
    assert {p["tier"] for p in probes} == {"free", "starter", "pro", "enterprise"}
    assert {p["severity"] for p in probes} == {"critical", "high", "medium", "low"}
    assert set(data["probe_categories"]) == CATEGORIES
    assert sum(c["count"] for c in data["probe_categories"].values()) == len(probes)
    assert set(data["tier_definitions"]) == {"free", "starter", "pro", "enterprise"}
    assert set(data["severity_levels"]) == {"critical", "high", "medium", "low"}
    # The contract's own examples exist.
    keys = {p["key"] for p in probes}
    assert {"reverse_psychology", "data_leakage_01"} <= keys


def test_filters_are_case_insensitive_and_combine(api):
    jail = api.get("/api/probes", params={"pageSize": "200", "category": "JAILBREAK"}).json()["data"][
        "probes"
    ]
    assert jail and {p["category"] for p in jail} == {"jailbreak"}
    crit_pro = api.get("/api/probes", params={"severity": "critical", "tier": "pro"}).json()["data"]["probes"]
    assert crit_pro and all((p["severity"], p["tier"]) == ("critical", "pro") for p in crit_pro)
    none = api.get("/api/probes", params={"category": "astrology"}).json()
    assert none["data"]["probes"] == [] and none["total"] == 0


def test_pages(api):
    first = api.get("/api/probes", params={"pageSize": "10"}).json()
    second = api.get("/api/probes", params={"pageSize": "10", "page": "2"}).json()
    everything = api.get("/api/probes", params={"pageSize": "200"}).json()["data"]["probes"]
    assert first["data"]["probes"] + second["data"]["probes"] == everything[:20]
    assert first["totalPages"] == -(-len(everything) // 10)
