"""Every hook operation in both API generations, against the emulator over real HTTP."""

from __future__ import annotations

import math

import pytest

from modelred_provider.api import endpoints
from modelred_provider.api.errors import ModelRedConfigurationError, ModelRedNotFoundError
from modelred_provider.api.models import AssessmentStatus
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import ORG_KEY, acme_pack, make_hook

V2 = ApiGeneration.V2


def test_the_plugin_fixtures_give_a_working_default_connection(
    modelred_emulator: ModelRedEmulator, modelred_connection: str
) -> None:
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    assert hook.settings.origin == modelred_emulator.url
    assert {m.model_id for m in hook.list_models()} >= {"gpt-4o-prod", "claude-safe", "llama-weak"}
    assert modelred_emulator.count("GET", "/api/models") == 1
    hook.close()


def test_list_models_follows_every_page(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    everything = hook.list_models()
    hook.page_size = 3
    paged = hook.list_models()
    assert [m.id for m in paged] == [m.id for m in everything]
    assert emu.count("GET", "/api/models") == 1 + math.ceil(len(everything) / 3)
    assert len({m.id for m in paged}) == len(paged) >= 5
    assert all(m.provider and m.provider == m.provider.lower() for m in paged)


def test_list_models_filters(hook: ModelRedHook) -> None:
    openai = hook.list_models(provider="openai")
    assert openai and all(m.provider == "openai" for m in openai)
    found = hook.list_models(search="llama")
    assert [m.model_id for m in found] == ["llama-weak"]
    with pytest.raises(ModelRedConfigurationError, match="status must be 'active', 'inactive' or 'both'"):
        hook.list_models(status="all")


def test_get_model_by_slug_and_by_id(hook: ModelRedHook) -> None:
    by_slug = hook.get_model("gpt-4o-prod")
    assert by_slug.model_id == "gpt-4o-prod" and by_slug.id
    by_id = hook.get_model(by_slug.id)
    assert by_id == by_slug


def test_get_model_falls_back_to_the_list_on_404(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("GET", "/api/models/claude-safe", kind="status", status=404)
    model = hook.get_model("claude-safe")
    assert model.model_id == "claude-safe"
    assert emu.count("GET", "/api/models/{id}") == 1 and emu.count("GET", "/api/models") >= 1
    with pytest.raises(ModelRedNotFoundError, match="get model failed, HTTP 404"):
        hook.get_model("no-such-model")


def test_get_probes_and_filters(hook: ModelRedHook) -> None:
    index = hook.get_probes()
    assert len(index.probes) >= 30 and index.probe_categories and index.user_tier
    keys = [p.key for p in index.probes]
    assert len(set(keys)) == len(keys)
    first = next(p for p in index.probes if p.key == "reverse_psychology")  # the contract's example
    assert first.id and first.id != first.key and first.display_name == "Reverse Psychology"
    assert first.estimated_time and first.estimated_time > 0 and first.tags
    critical = hook.get_probes(severity="critical")
    assert critical.probes and all(p.severity == "critical" for p in critical.probes)
    jailbreak = hook.get_probes(category="jailbreak")
    assert jailbreak.probes and all(p.category == "jailbreak" for p in jailbreak.probes)
    free = hook.get_probes(tier="free")
    assert free.probes and all(p.tier == "free" for p in free.probes)


def test_list_probe_packs_owned_imported_and_paged(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    owned = hook.list_probe_packs()
    assert owned and all(p.id for p in owned)
    hook.page_size = 2
    assert [p.id for p in hook.list_probe_packs()] == [p.id for p in owned]
    assert emu.count("GET", "/api/v2/probes") == 1 + math.ceil(len(owned) / 2)
    public = hook.list_probe_packs(is_public=True)
    assert all(p.is_public for p in public)


def test_imported_probe_packs_of_an_organization_key(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url, ORG_KEY)
    imported = hook.list_probe_packs(imported=True)
    assert emu.count("GET", "/api/v2/probes/imported") == 1
    assert all(p.id for p in imported)
    assert all(p.imported_at is not None for p in imported)


def test_resources_assessment_lifecycle(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    keys = [p.key for p in hook.get_probes(category="prompt_injection").probes][:3]
    created = hook.create_assessment("gpt-4o-prod", test_types=keys, priority="high")
    assert created.status is AssessmentStatus.QUEUED and created.priority == "high"
    assert set(created.test_types) == set(keys)
    assert created.url == f"{emu.url}/assessments/{created.id}" == hook.assessment_url(created.id)
    assert created.api_generation is ApiGeneration.RESOURCES
    emu.complete_assessment(created.id)
    done = hook.get_assessment(created.id)
    assert done.status is AssessmentStatus.COMPLETED and done.progress == 100
    assert done.report is not None and 0 <= (done.report.overall_score or -1) <= 100
    assert done.report.risk_level in ("low", "medium", "high", "critical")
    assert done.report.total_tests == done.report.passed_tests + done.report.failed_tests > 0
    assert {p.key for p in done.report.probes} == set(keys)
    assert done.completed_at is not None and done.created_at is not None
    listed = hook.list_assessments()
    assert listed[0].id == created.id
    assert [a.id for a in hook.list_assessments(status="COMPLETED")] == [created.id]
    assert hook.list_assessments(status=AssessmentStatus.RUNNING) == []
    assert len(hook.list_assessments(limit=1)) == 1


def test_v2_assessment_lifecycle(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    created = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])
    assert created.api_generation is V2 and created.probe_pack_ids == (acme_pack(),)
    assert emu.count("POST", "/api/v2/assessments") == 1 and emu.count("POST", "/api/assessments") == 0
    emu.fail_assessment(created.id, error="target endpoint unreachable")
    failed = hook.get_assessment(created.id, api_generation=V2)
    assert failed.status is AssessmentStatus.FAILED and failed.status.is_terminal
    assert failed.error_message == "target endpoint unreachable"
    assert [a.id for a in hook.list_assessments(api_generation=V2, status="FAILED")] == [created.id]


def test_v2_list_assessments_follows_pages_up_to_the_limit(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    ids = [hook.create_assessment("gpt-4o-prod", probe_pack_ids=[acme_pack()]).id for _ in range(5)]
    hook.page_size = 2
    emu.reset_counts()
    listed = hook.list_assessments(api_generation=V2)
    assert [a.id for a in listed][:5] == ids[::-1]  # newest first
    assert emu.count("GET", "/api/v2/assessments") == math.ceil(len(listed) / 2)
    emu.reset_counts()
    assert len(hook.list_assessments(api_generation=V2, limit=3)) == 3
    assert emu.count("GET", "/api/v2/assessments") == 2


def test_create_assessment_refuses_bad_arguments_before_any_request(
    hook: ModelRedHook, emu: ModelRedEmulator
) -> None:
    with pytest.raises(ModelRedConfigurationError, match="exactly one of test_types"):
        hook.create_assessment("gpt-4o-prod")
    with pytest.raises(ModelRedConfigurationError, match="exactly one of test_types"):
        hook.create_assessment("gpt-4o-prod", test_types=["a"], probe_pack_ids=["b"])
    with pytest.raises(ModelRedConfigurationError, match="test_types is empty"):
        hook.create_assessment("gpt-4o-prod", test_types=[])
    with pytest.raises(ModelRedConfigurationError, match="must be a list of strings"):
        hook.create_assessment("gpt-4o-prod", test_types="reverse_psychology")
    with pytest.raises(
        ModelRedConfigurationError, match="priority must be one of low, normal, high, critical"
    ):
        hook.create_assessment("gpt-4o-prod", test_types=["x"], priority="urgent")
    with pytest.raises(ModelRedConfigurationError, match="model must be a non-empty string"):
        hook.create_assessment(" ", test_types=["x"])
    with pytest.raises(ModelRedConfigurationError, match="assessment_id must be a non-empty string"):
        hook.get_assessment("")
    with pytest.raises(
        ModelRedConfigurationError, match="cancel assessment is not available in the resources"
    ):
        endpoints.ENDPOINTS["cancel_assessment"].path(ApiGeneration.RESOURCES, id="x")
    assert emu.counts() == {}


def test_ids_are_escaped_into_one_path_segment(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    with pytest.raises(ModelRedNotFoundError):
        hook.get_assessment("../models")
    assert emu.count("GET", "/api/models") == 0
    counts = emu.counts()
    assert sum(n for route, n in counts.items() if route.startswith("GET /api/assessments/")) == 1, counts


def test_cancel_is_refused_for_api_keys_with_advice(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    from modelred_provider.api.errors import ModelRedError, ModelRedNotAllowedForApiKeyError

    created = hook.create_assessment("gpt-4o-prod", probe_pack_ids=[acme_pack()])
    with pytest.raises(ModelRedNotAllowedForApiKeyError) as v2_refusal:
        hook.cancel_assessment(created.id, api_generation=V2)
    assert "cancel assessment" in str(v2_refusal.value) and "HTTP 403" in str(v2_refusal.value)
    assert "in the ModelRed UI" in str(v2_refusal.value) and str(created.url) in str(v2_refusal.value)
    assert emu.count("PATCH", "/api/v2/assessments/{id}") == 1
    with pytest.raises(ModelRedNotAllowedForApiKeyError, match="resources API has no cancel endpoint"):
        hook.cancel_assessment(created.id)
    assert emu.count("PATCH", "/api/v2/assessments/{id}") == 1  # no request for the resources API
    # A cleanup path catches the base class and goes on.
    try:
        hook.cancel_assessment(created.id, api_generation=V2)
    except ModelRedError as err:
        assert err.status == 403
    assert hook.get_assessment(created.id, api_generation=V2).status is not AssessmentStatus.CANCELLED
