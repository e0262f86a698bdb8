"""Seed data of the emulator: organisations, models, the probe catalogue and v2 probe packs.

Everything here is fixed (no randomness, fixed timestamps), so two emulators serve the same catalogue.
Field names follow the contract (``modelred-api.md`` sections 1.3 and 2.2).
"""

from __future__ import annotations

import hashlib
from typing import Any

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
TIERS = ("free", "starter", "pro", "enterprise")
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
    """A deterministic, opaque-looking id (``prefix`` + 16 hex digits of a hash of ``name``)."""
    return prefix + hashlib.sha256(name.encode()).hexdigest()[:16]


# slug, provider, modelName, displayName, org, isActive, default outcome, default error, description
_MODELS: tuple[tuple[str, str, str, str, str, bool, str, str | None, str], ...] = (
    (
        "gpt-4o-prod",
        "openai",
        "gpt-4o",
        "GPT-4o (production)",
        ORG_ACME,
        True,
        "pass",
        None,
        "Customer-facing assistant on GPT-4o.",
    ),
    (
        "claude-safe",
        "anthropic",
        "claude-3-5-sonnet-20241022",
        "Claude 3.5 Sonnet (safe)",
        ORG_ACME,
        True,
        "pass",
        None,
        "Support bot with a strict system prompt.",
    ),
    (
        "llama-weak",
        "huggingface",
        "meta-llama/Llama-2-7b-chat-hf",
        "Llama 2 7B chat (unguarded)",
        ORG_ACME,
        True,
        "low_score",
        None,
        "Self-hosted Llama without guardrails: scores low, critical findings.",
    ),
    (
        "broken-endpoint",
        "rest",
        "custom-rest-endpoint",
        "Broken REST endpoint",
        ORG_ACME,
        True,
        "fail",
        "Target model endpoint returned HTTP 500 for 12 consecutive probe cases",
        "An endpoint that errors.",
    ),
    (
        "stuck-model",
        "bedrock",
        "anthropic.claude-v2",
        "Bedrock Claude v2 (stuck)",
        ORG_ACME,
        True,
        "stuck",
        None,
        "Its assessments never leave QUEUED.",
    ),
    (
        "mistral-router",
        "openrouter",
        "mistralai/mistral-large",
        "Mistral Large via OpenRouter",
        ORG_ACME,
        True,
        "pass",
        None,
        "Routed through OpenRouter.",
    ),
    (
        "grok-legacy",
        "grok",
        "grok-1",
        "Grok 1 (retired)",
        ORG_ACME,
        False,
        "pass",
        None,
        "Inactive: assessments are refused.",
    ),
    (
        "gemini-pro",
        "google",
        "gemini-1.5-pro",
        "Gemini 1.5 Pro",
        ORG_GLOBEX,
        True,
        "pass",
        None,
        "Globex research assistant.",
    ),
    (
        "azure-gpt35",
        "azure",
        "gpt-35-turbo",
        "Azure GPT-3.5 Turbo",
        ORG_GLOBEX,
        True,
        "pass",
        None,
        "Globex internal helpdesk.",
    ),
    (
        "sagemaker-falcon",
        "sagemaker",
        "falcon-40b-instruct",
        "Falcon 40B on SageMaker",
        ORG_GLOBEX,
        True,
        "low_score",
        None,
        "Globex experiment.",
    ),
)


def seed_models() -> list[dict[str, Any]]:
    """The seeded models as stored records (wire fields plus ``organizationId`` and the default outcome)."""
    out = []
    for n, (slug, provider, name, display, org, active, outcome, error, desc) in enumerate(_MODELS):
        created = f"2025-0{1 + n % 9}-1{n % 10}T09:30:00.000Z"
        out.append(
            {
                "id": stable_id("mdl_", slug),
                "modelId": slug,
                "provider": provider,
                "modelName": name,
                "displayName": display,
                "description": desc,
                "isActive": active,
                "lastTested": None,
                "testCount": 0,
                "createdAt": created,
                "updatedAt": created,
                "organizationId": org,
                "_outcome": outcome,
                "_error": error,
            }
        )
    return out


# key, displayName, category, tier, severity, estimated_time (s), tags, description
_PROBES: tuple[tuple[str, str, str, str, str, int, tuple[str, ...], str], ...] = (
    (
        "reverse_psychology",
        "Reverse Psychology",
        "prompt_injection",
        "free",
        "high",
        45,
        ("injection", "social"),
        "Asks the model to do the opposite of a refusal.",
    ),
    (
        "instruction_override",
        "Instruction Override",
        "prompt_injection",
        "free",
        "critical",
        60,
        ("injection",),
        "Tries to replace the system prompt with user instructions.",
    ),
    (
        "indirect_injection_web",
        "Indirect Injection (web content)",
        "prompt_injection",
        "pro",
        "critical",
        90,
        ("injection", "rag"),
        "Hides instructions in retrieved documents.",
    ),
    (
        "prompt_leak_system",
        "System Prompt Leak",
        "prompt_injection",
        "starter",
        "medium",
        40,
        ("injection", "leak"),
        "Coaxes the model into revealing its system prompt.",
    ),
    (
        "dan_classic",
        "DAN (Do Anything Now)",
        "jailbreak",
        "free",
        "high",
        50,
        ("jailbreak", "roleplay"),
        "The classic persona jailbreak.",
    ),
    (
        "roleplay_escalation",
        "Role-play Escalation",
        "jailbreak",
        "starter",
        "high",
        75,
        ("jailbreak",),
        "Escalates a fictional scenario step by step.",
    ),
    (
        "many_shot_jailbreak",
        "Many-shot Jailbreak",
        "jailbreak",
        "pro",
        "critical",
        120,
        ("jailbreak", "long-context"),
        "Floods the context with compliant examples.",
    ),
    (
        "encoding_bypass",
        "Encoding Bypass (base64/rot13)",
        "jailbreak",
        "pro",
        "medium",
        55,
        ("jailbreak", "obfuscation"),
        "Smuggles requests through encodings.",
    ),
    (
        "data_leakage_01",
        "Training Data Extraction",
        "data_leakage",
        "pro",
        "critical",
        80,
        ("leakage",),
        "Attempts verbatim extraction of memorised training data.",
    ),
    (
        "context_exfiltration",
        "Context Exfiltration",
        "data_leakage",
        "starter",
        "high",
        60,
        ("leakage", "rag"),
        "Tries to exfiltrate other users' context.",
    ),
    (
        "secret_echo",
        "Secret Echo",
        "data_leakage",
        "free",
        "medium",
        30,
        ("leakage", "secrets"),
        "Checks whether credentials in context are repeated back.",
    ),
    (
        "pii_email_harvest",
        "PII: e-mail harvesting",
        "pii_leaks",
        "free",
        "high",
        35,
        ("pii",),
        "Asks for e-mail addresses of real people.",
    ),
    (
        "pii_ssn_generation",
        "PII: national ID numbers",
        "pii_leaks",
        "starter",
        "critical",
        40,
        ("pii",),
        "Asks for valid-looking national identification numbers.",
    ),
    (
        "pii_address_lookup",
        "PII: home address lookup",
        "pii_leaks",
        "pro",
        "high",
        45,
        ("pii", "doxxing"),
        "Asks for private home addresses.",
    ),
    (
        "toxic_insults",
        "Toxic insults",
        "toxicity",
        "free",
        "medium",
        25,
        ("toxicity",),
        "Provokes insulting language.",
    ),
    (
        "hate_speech",
        "Hate speech",
        "toxicity",
        "starter",
        "critical",
        40,
        ("toxicity", "hate"),
        "Provokes hateful content about protected groups.",
    ),
    (
        "harassment_scenarios",
        "Harassment scenarios",
        "toxicity",
        "pro",
        "high",
        50,
        ("toxicity",),
        "Asks for help harassing a person.",
    ),
    (
        "gender_bias_hiring",
        "Gender bias in hiring",
        "bias",
        "free",
        "medium",
        45,
        ("bias", "hr"),
        "Compares answers for candidates differing only in gender.",
    ),
    (
        "racial_bias_lending",
        "Racial bias in lending",
        "bias",
        "pro",
        "high",
        55,
        ("bias", "finance"),
        "Compares credit advice across ethnic names.",
    ),
    (
        "age_stereotypes",
        "Age stereotypes",
        "bias",
        "starter",
        "low",
        30,
        ("bias",),
        "Looks for age-based stereotyping.",
    ),
    (
        "refusal_consistency",
        "Refusal consistency",
        "universal",
        "free",
        "low",
        20,
        ("baseline",),
        "Asks the same harmful request in paraphrases.",
    ),
    (
        "hallucinated_citations",
        "Hallucinated citations",
        "universal",
        "starter",
        "medium",
        35,
        ("hallucination",),
        "Asks for sources and checks they exist.",
    ),
    (
        "multilingual_bypass",
        "Multilingual bypass",
        "universal",
        "pro",
        "high",
        70,
        ("obfuscation", "i18n"),
        "Repeats refused requests in low-resource languages.",
    ),
    (
        "unsafe_dosage_advice",
        "Unsafe dosage advice",
        "medical_ethics",
        "pro",
        "critical",
        50,
        ("medical",),
        "Asks for dangerous medication dosages.",
    ),
    (
        "self_diagnosis_overreach",
        "Self-diagnosis overreach",
        "medical_ethics",
        "starter",
        "medium",
        40,
        ("medical",),
        "Checks for confident diagnoses without caveats.",
    ),
    (
        "unauthorized_legal_advice",
        "Unauthorised legal advice",
        "legal_ethics",
        "pro",
        "medium",
        45,
        ("legal",),
        "Checks for definitive legal advice without disclaimers.",
    ),
    (
        "contract_fraud_assist",
        "Contract fraud assistance",
        "legal_ethics",
        "enterprise",
        "high",
        60,
        ("legal", "fraud"),
        "Asks for help drafting fraudulent contracts.",
    ),
    (
        "insider_trading_tips",
        "Insider trading tips",
        "financial_compliance",
        "enterprise",
        "critical",
        55,
        ("finance",),
        "Asks how to trade on non-public information.",
    ),
    (
        "investment_guarantees",
        "Guaranteed-return claims",
        "financial_compliance",
        "pro",
        "medium",
        35,
        ("finance",),
        "Checks for promises of guaranteed returns.",
    ),
    (
        "aml_evasion",
        "AML evasion",
        "financial_compliance",
        "enterprise",
        "high",
        50,
        ("finance", "fraud"),
        "Asks how to structure deposits to avoid reporting.",
    ),
    (
        "malware_generation",
        "Malware generation",
        "cyber_operations",
        "enterprise",
        "critical",
        90,
        ("cyber",),
        "Asks for working malicious code.",
    ),
    (
        "phishing_kit",
        "Phishing kit",
        "cyber_operations",
        "pro",
        "high",
        60,
        ("cyber", "social"),
        "Asks for a credential-phishing page and e-mail.",
    ),
    (
        "exploit_explanation",
        "Exploit walkthrough",
        "cyber_operations",
        "enterprise",
        "high",
        75,
        ("cyber",),
        "Asks for step-by-step exploitation of a known CVE.",
    ),
    (
        "recon_osint",
        "OSINT reconnaissance",
        "cyber_operations",
        "starter",
        "low",
        30,
        ("cyber", "osint"),
        "Asks for reconnaissance on a named organisation.",
    ),
)


def seed_probes() -> list[dict[str, Any]]:
    out = []
    for key, display, category, tier, severity, seconds, tags, desc in _PROBES:
        out.append(
            {
                "id": stable_id("prb_", key),
                "key": key,
                "display_name": display,
                "displayName": display,
                "description": desc,
                "estimated_time": seconds,
                "tags": list(tags),
                "category": category,
                "tier": tier,
                "severity": severity,
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

# id, name, category, isPublic, owner org, probe keys, createdAt, description
_PACKS: tuple[tuple[str, str, str, bool, str, tuple[str, ...], str, str], ...] = (
    (
        "pack_owasp_llm_top10",
        "OWASP LLM Top 10 essentials",
        "universal",
        False,
        ORG_ACME,
        (
            "instruction_override",
            "indirect_injection_web",
            "prompt_leak_system",
            "data_leakage_01",
            "secret_echo",
            "hallucinated_citations",
            "phishing_kit",
        ),
        "2025-03-02T10:00:00.000Z",
        "One probe or more per OWASP LLM risk.",
    ),
    (
        "pack_jailbreak_core",
        "Jailbreak core",
        "jailbreak",
        True,
        ORG_ACME,
        (
            "dan_classic",
            "roleplay_escalation",
            "many_shot_jailbreak",
            "encoding_bypass",
            "reverse_psychology",
        ),
        "2025-03-05T10:00:00.000Z",
        "The jailbreak families seen most in the wild.",
    ),
    (
        "pack_privacy_sweep",
        "Privacy sweep",
        "pii_leaks",
        False,
        ORG_ACME,
        ("pii_email_harvest", "pii_ssn_generation", "pii_address_lookup", "context_exfiltration"),
        "2025-04-11T10:00:00.000Z",
        "PII and context leakage.",
    ),
    (
        "pack_fin_compliance",
        "Financial compliance",
        "financial_compliance",
        True,
        ORG_GLOBEX,
        ("insider_trading_tips", "investment_guarantees", "aml_evasion", "racial_bias_lending"),
        "2025-02-20T10:00:00.000Z",
        "For banking and brokerage assistants.",
    ),
    (
        "pack_clinical_safety",
        "Clinical safety",
        "medical_ethics",
        True,
        ORG_GLOBEX,
        ("unsafe_dosage_advice", "self_diagnosis_overreach", "hallucinated_citations"),
        "2025-05-01T10:00:00.000Z",
        "For health-care assistants.",
    ),
    (
        "pack_globex_internal",
        "Globex internal red team",
        "cyber_operations",
        False,
        ORG_GLOBEX,
        ("malware_generation", "exploit_explanation", "recon_osint"),
        "2025-06-09T10:00:00.000Z",
        "Globex's private pack.",
    ),
)
# (importing org, pack id, importedAt)
_IMPORTS = (
    (ORG_ACME, "pack_fin_compliance", "2025-07-01T08:00:00.000Z"),
    (ORG_ACME, "pack_clinical_safety", "2025-07-03T08:00:00.000Z"),
    (ORG_GLOBEX, "pack_jailbreak_core", "2025-07-02T08:00:00.000Z"),
)

PROMPTS_PER_PROBE = 4


def seed_packs() -> list[dict[str, Any]]:
    out = []
    for pid, name, category, public, org, keys, created, desc in _PACKS:
        out.append(
            {
                "id": pid,
                "name": name,
                "description": desc,
                "category": category,
                "isPublic": public,
                "organizationId": org,
                "probeKeys": list(keys),
                "probeCount": len(keys),
                "promptCount": len(keys) * PROMPTS_PER_PROBE,
                "createdAt": created,
                "updatedAt": created,
            }
        )
    return out


def seed_imports() -> list[tuple[str, str, str]]:
    return list(_IMPORTS)
