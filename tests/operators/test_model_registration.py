"""Registering a model (hook and operators) against the emulator over HTTP, and the target model's
credentials: sent to ModelRed, and nowhere else (XCom, rendered fields, logs, exceptions)."""

from __future__ import annotations

import json

import pytest

from modelred_provider.api.errors import ModelRedConfigurationError
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.operators.model import ModelRedDeleteModelOperator, ModelRedRegisterModelOperator

CREATE = ("POST", "/api/models")


def _register(hook: ModelRedHook, **kwargs):
    args = {
        "provider": "openai",
        "display_name": "Candidate",
        "provider_config": {"model": "gpt-4o-mini", "apiKey": "sk-test-1"},
    }
    args.update(kwargs)
    return hook.create_model("candidate-1", **args)


def test_create_reuse_verify_and_delete(modelred_emulator, modelred_connection):
    with ModelRedHook(modelred_conn_id=modelred_connection) as hook:
        model, created = _register(hook, description="trained today")
        assert created and model.model_id == "candidate-1" and model.provider == "openai"
        assert model.id.startswith("mdl_") and model.description == "trained today"
        # The same registration again (a retry after a lost answer): 409, verified, reused.
        again, created = _register(hook)
        assert not created and again.id == model.id
        assert modelred_emulator.count(*CREATE) == 2
        # Another model under the same id is not silently reused.
        with pytest.raises(ModelRedConfigurationError) as info:
            _register(hook, provider="anthropic", provider_config={"model": "claude-x", "apiKey": "sk-2"})
        assert "provider 'openai', not 'anthropic'" in str(info.value)
        assert "model name 'gpt-4o-mini', not 'claude-x'" in str(info.value)
        assert "sk-" not in str(info.value)
        assert hook.get_model("candidate-1").id == model.id
        assert hook.delete_model("candidate-1") is True
        assert hook.delete_model(model.id) is False  # already gone
    assert modelred_emulator.count("DELETE", "/api/models/{id}") == 1


def test_secrets_in_dag_code_are_refused_at_parse():
    with pytest.raises(ValueError, match=r"\['apiKey'\], which look like secrets"):
        ModelRedRegisterModelOperator(
            task_id="r", model_id="m", provider="openai", provider_config={"apiKey": "sk-x", "model": "g"}
        )
    with pytest.raises(ValueError, match="exactly one of model"):
        ModelRedDeleteModelOperator(task_id="d")
    with pytest.raises(ValueError, match="model_id=''"):
        ModelRedRegisterModelOperator(task_id="r", model_id="", provider="openai")


SECRET = "sk-live-7f3a9c2e1b4d6a8f"


@pytest.mark.modelred_emulator(assessment_seconds=0.5)
def test_the_credentials_reach_modelred(modelred_emulator, modelred_connection, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TARGET_LLM",
        json.dumps({"conn_type": "generic", "password": SECRET, "extra": {"deployment": "blue"}}),
    )
    from tests.task_context import make_context

    op = ModelRedRegisterModelOperator(
        task_id="register",
        model_id="candidate-2",
        provider="openai",
        provider_config={"model": "gpt-4o-mini"},
        provider_conn_id="target_llm",
        modelred_conn_id=modelred_connection,
    )
    result = op.execute(make_context())
    assert result["created"] is True and SECRET not in json.dumps(result)
    stored = modelred_emulator.state.find_model("candidate-2", frozenset({"org_acme"}))
    assert stored["providerConfig"] == {"model": "gpt-4o-mini", "apiKey": SECRET, "deployment": "blue"}
