"""Seed data of the emulator: organisations, models, the probe catalogue and v2 probe packs.

The records live in ``catalogue.json`` beside this file (one line each); this module turns them into the
stored records. Everything is fixed (no randomness, fixed timestamps), so two emulators serve the same
catalogue. Field names follow the contract (``docs/modelred-api.md`` sections 1.3 and 2.2).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "CATEGORIES",
    "ORGANIZATIONS",
    "ORG_ACME",
    "ORG_GLOBEX",
    "OUTCOMES",
    "PROBE_CATEGORIES",
    "PROMPTS_PER_PROBE",
    "PROVIDERS",
    "SEVERITIES",
    "SEVERITY_LEVELS",
    "TIER_DEFINITIONS",
    "model_record",
    "seed_imports",
    "seed_models",
    "seed_packs",
    "seed_probes",
    "stable_id",
]

ORG_ACME = "org_acme"
ORG_GLOBEX = "org_globex"
ORGANIZATIONS = (ORG_ACME, ORG_GLOBEX)

PROVIDERS = (
    "openai",
    "anthropic",
    "azure",
    "huggingface",
    "rest",
    "bedrock",
    "sagemaker",
    "google",
    "grok",
    "openrouter",
)
_TIERS = ("free", "starter", "pro", "enterprise")
SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = (
    "prompt_injection",
    "jailbreak",
    "data_leakage",
    "pii_leaks",
    "toxicity",
    "bias",
    "universal",
    "medical_ethics",
    "legal_ethics",
    "financial_compliance",
    "cyber_operations",
)
OUTCOMES = ("pass", "fail", "low_score", "stuck")


def stable_id(prefix: str, name: str) -> str:
    """Make a deterministic, opaque-looking id (``prefix`` + 16 hex digits of a hash of ``name``)."""
    return prefix + hashlib.sha256(name.encode()).hexdigest()[:16]


PROMPTS_PER_PROBE = 4
_SEED_FILE = Path(__file__).with_name("catalogue.json")


@cache
def _seed() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(_SEED_FILE.read_text(encoding="utf-8"))
    return data


def model_record(
    model_id: str,
    *,
    provider: str,
    model_name: str,
    display_name: str,
    description: str | None,
    organization_id: str,
    created_at: str,
    is_active: bool = True,
    outcome: str = "pass",
    error: str | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Build a stored model (seeded, scenario-added or posted): wire fields, org, ``_outcome``, ``_error``."""
    return {
        "id": record_id or stable_id("mdl_", model_id),
        "modelId": model_id,
        "provider": provider,
        "modelName": model_name,
        "displayName": display_name,
        "description": description,
        "isActive": is_active,
        "lastTested": None,
        "testCount": 0,
        "createdAt": created_at,
        "updatedAt": created_at,
        "organizationId": organization_id,
        "_outcome": outcome,
        "_error": error,
    }


def seed_models() -> list[dict[str, Any]]:
    """Return the seeded models as stored records (see :func:`model_record`)."""
    return [
        model_record(
            m["modelId"],
            provider=m["provider"],
            model_name=m["modelName"],
            display_name=m["displayName"],
            description=m["description"],
            organization_id=m["organizationId"],
            created_at=f"2025-0{1 + n % 9}-1{n % 10}T09:30:00.000Z",
            is_active=m["isActive"],
            outcome=m["outcome"],
            error=m["error"],
        )
        for n, m in enumerate(_seed()["models"])
    ]


def seed_probes() -> list[dict[str, Any]]:
    out = []
    for p in _seed()["probes"]:
        out.append(
            {
                "id": stable_id("prb_", p["key"]),
                "key": p["key"],
                "display_name": p["displayName"],
                "displayName": p["displayName"],
                "description": p["description"],
                "estimated_time": p["estimated_time"],
                "tags": list(p["tags"]),
                "category": p["category"],
                "tier": p["tier"],
                "severity": p["severity"],
                "isActive": True,
                "version": "1.0",
            }
        )
    return out


PROBE_CATEGORIES: dict[str, dict[str, str]] = {
    c: {"name": c.replace("_", " ").title(), "description": f"Probes for {c.replace('_', ' ')}."}
    for c in CATEGORIES
}
TIER_DEFINITIONS: dict[str, dict[str, Any]] = {
    "free": {"name": "Free", "description": "Basic probes available on every plan.", "level": 0},
    "starter": {"name": "Starter", "description": "Adds common attack families.", "level": 1},
    "pro": {"name": "Pro", "description": "Advanced attacks; API key access.", "level": 2},
    "enterprise": {"name": "Enterprise", "description": "Regulated-industry and cyber probes.", "level": 3},
}
SEVERITY_LEVELS: dict[str, dict[str, Any]] = {
    "critical": {"name": "Critical", "weight": 10, "description": "Exploitable now; block the release."},
    "high": {"name": "High", "weight": 5, "description": "Serious; fix before release."},
    "medium": {"name": "Medium", "weight": 2, "description": "Should be fixed."},
    "low": {"name": "Low", "weight": 1, "description": "Minor."},
}


def seed_packs() -> list[dict[str, Any]]:
    out = []
    for p in _seed()["probePacks"]:
        out.append(
            {
                "id": p["id"],
                "name": p["name"],
                "description": p["description"],
                "category": p["category"],
                "isPublic": p["isPublic"],
                "organizationId": p["organizationId"],
                "probeKeys": list(p["probeKeys"]),
                "probeCount": len(p["probeKeys"]),
                "promptCount": len(p["probeKeys"]) * PROMPTS_PER_PROBE,
                "createdAt": p["createdAt"],
                "updatedAt": p["createdAt"],
            }
        )
    return out


def seed_imports() -> list[tuple[str, str, str]]:
    """Return the seeded imports: (importing org, pack id, importedAt)."""
    return [(i["organizationId"], i["packId"], i["importedAt"]) for i in _seed()["imports"]]
