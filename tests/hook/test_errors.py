"""Every error mapping of the contract, produced by the emulator over real HTTP."""

from __future__ import annotations

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.errors import error_from_response
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import FREE_KEY, acme_pack, make_hook

ASSESSMENTS = "/api/assessments"


def test_401_bad_key(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, "mr_wrong_key_000000")
    with pytest.raises(e.ModelRedAuthenticationError) as caught:
        hook.list_models()
    text = str(caught.value)
    assert text.startswith("ModelRed list models failed, HTTP 401: Invalid API key")
    assert caught.value.status == 401 and not caught.value.retryable
    assert emu.count("GET", "/api/models") == 1  # never retried


def test_403_plan_limit_for_a_free_tier_key(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, FREE_KEY)
    with pytest.raises(e.ModelRedForbiddenError) as caught:
        hook.get_probes()
    assert caught.value.plan_limit and caught.value.status == 403 and caught.value.code
    assert "only available on Pro and Enterprise plans" in caught.value.message


def test_403_limit_on_concurrent_assessments(monkeypatch: pytest.MonkeyPatch) -> None:
    with ModelRedEmulator(max_concurrent=1, assessment_seconds=30) as emu:
        hook = make_hook(monkeypatch, emu.url)
        hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
        with pytest.raises(e.ModelRedForbiddenError) as caught:
            hook.create_assessment("claude-safe", test_types=["reverse_psychology"])
        assert caught.value.plan_limit and "Maximum concurrent assessments reached" in caught.value.message
        assert emu.count("POST", ASSESSMENTS) == 2  # a 403 is not resent


def test_403_forbidden_and_requires_web_ui(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("GET", "/api/models", kind="status", status=403)
    with pytest.raises(e.ModelRedForbiddenError) as caught:
        hook.list_models()
    assert type(caught.value) is e.ModelRedForbiddenError and not caught.value.plan_limit
    assert caught.value.status == 403 and caught.value.operation == "list models"
    created = hook.create_assessment("gpt-4o-prod", probe_pack_ids=[acme_pack()])
    with pytest.raises(e.ModelRedNotAllowedForApiKeyError) as refused:
        hook.cancel_assessment(created.id, api_generation=ApiGeneration.V2)
    assert refused.value.status == 403 and "requires web UI" in refused.value.message


def test_404_unknown_assessment(hook: ModelRedHook) -> None:
    for generation in ApiGeneration:
        with pytest.raises(e.ModelRedNotFoundError) as caught:
            hook.get_assessment("asm_does_not_exist", api_generation=generation)
        assert caught.value.status == 404 and caught.value.code == "ASSESSMENT_NOT_FOUND"
        assert caught.value.message == "Assessment not found"


def test_validation_422_resources_and_400_v2(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    with pytest.raises(e.ModelRedAPIError) as resources:
        hook.create_assessment("gpt-4o-prod", test_types=["no_such_probe"])
    assert resources.value.status == 422 and "no_such_probe" in resources.value.message
    with pytest.raises(e.ModelRedAPIError) as v2:
        hook.create_assessment("gpt-4o-prod", probe_pack_ids=["pack_nope"])
    assert v2.value.status == 400 and "pack_nope" in v2.value.message
    with pytest.raises(e.ModelRedNotFoundError) as unknown:
        hook.create_assessment("no-such-model", test_types=["reverse_psychology"])
    assert unknown.value.status == 404 and "no-such-model" in unknown.value.message
    emu.inject_fault("POST", ASSESSMENTS, kind="status", status=412)
    with pytest.raises(e.ModelRedAPIError) as precondition:
        hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    assert precondition.value.status == 412
    assert emu.count("POST", ASSESSMENTS) == 3  # 422, unknown model, 412: none resent


def test_409_conflict(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("POST", ASSESSMENTS, kind="status", status=409)
    with pytest.raises(e.ModelRedAPIError) as caught:
        hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    assert type(caught.value) is e.ModelRedAPIError
    assert caught.value.status == 409 and not caught.value.retryable


def test_429_after_retries_and_5xx(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("GET", "/api/models", kind="status", status=429, count=4, retry_after=0)
    with pytest.raises(e.ModelRedRateLimitError) as limited:
        hook.list_models()
    assert limited.value.retryable and limited.value.retry_after == 0
    assert emu.count("GET", "/api/models") == 4  # 1 + max_retries(3)
    emu.reset_counts()
    emu.inject_fault("GET", "/api/models", kind="status", status=500)
    with pytest.raises(e.ModelRedServerError) as server:
        hook.list_models()
    assert server.value.status == 500 and server.value.code == "INTERNAL_ERROR"
    assert emu.count("GET", "/api/models") == 1  # 500 is not retried


def test_html_proxy_page_and_truncated_json(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("GET", "/api/models", kind="html", count=4)
    with pytest.raises(e.ModelRedServerError) as proxy:
        hook.list_models()
    assert proxy.value.status == 502 and "<html>" not in str(proxy.value)
    assert "non-JSON answer: 502 Bad Gateway" in proxy.value.message  # the page's title, not its markup
    # A truncated 200 of a read is sent again (a GET is safe to repeat); past the retries it is typed.
    emu.reset_counts()
    emu.inject_fault("GET", "/api/models", kind="truncated")
    assert hook.list_models()
    assert emu.count("GET", "/api/models") == 2
    emu.inject_fault("GET", "/api/models", kind="truncated", count=4)
    with pytest.raises(e.ModelRedResponseError) as unreadable:
        hook.list_models()
    assert unreadable.value.status == 200 and unreadable.value.operation == "list models"
    assert not unreadable.value.too_large


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (401, {"error": "Invalid API key"}, e.ModelRedAuthenticationError),
        (403, {"error": "Upgrade your subscription"}, e.ModelRedForbiddenError),
        (403, {"message": "Tier too low"}, e.ModelRedForbiddenError),
        (403, {"error": "Not allowed for ApiKey"}, e.ModelRedNotAllowedForApiKeyError),
        (403, {"error": "Not allowed with an api key"}, e.ModelRedForbiddenError),  # "api key" does not match
        (404, {}, e.ModelRedNotFoundError),
        (409, {"error": "Model already exists"}, e.ModelRedAPIError),
        (400, {"error": "bad"}, e.ModelRedAPIError),
        (412, {"detail": "bad"}, e.ModelRedAPIError),
        (422, {"error": "bad"}, e.ModelRedAPIError),
        (429, {}, e.ModelRedRateLimitError),
        (500, {}, e.ModelRedServerError),
        (503, {}, e.ModelRedServerError),
        (418, {}, e.ModelRedAPIError),
    ],
)
def test_status_table(status: int, payload: dict[str, str], expected: type[e.ModelRedError]) -> None:
    error = error_from_response("get assessment", status, {**payload, "code": "X_CODE"}, {"retry-after": "2"})
    assert type(error) is expected
    if isinstance(error, e.ModelRedForbiddenError):  # a 403 about the plan or a limit says so
        assert error.plan_limit == any(word in str(payload).lower() for word in ("upgrade", "tier"))
    assert str(error).startswith(f"ModelRed get assessment failed, HTTP {status}: ")
    assert str(error).endswith("[code=X_CODE]") and error.retry_after == 2.0
    message = payload.get("error") or payload.get("message") or payload.get("detail") or f"API error {status}"
    assert error.message == message and error.status == status and error.code == "X_CODE"


def test_error_wins_over_message() -> None:
    error = error_from_response("list models", 400, {"error": "first", "message": "second"})
    assert error.message == "first"
