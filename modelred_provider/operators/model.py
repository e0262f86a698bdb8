"""Register the model a pipeline just trained in ModelRed, and delete it again (e.g. as a teardown).

``ModelRedRegisterModelOperator`` creates the model (``POST /api/models``) or reuses the one with the
same ``model_id`` when it matches (a 409, or a retry after a lost answer). The target model's
credentials (``providerConfig``'s secrets) come from an Airflow connection (``provider_conn_id``), never
from DAG code: they are not an attribute of the task, so they appear in no rendered field, XCom, log
line (Airflow's masker is told of them) or exception (their values are replaced before it is raised).

Importing this module at DAG parse imports only the base class and the parameter checks; the hook
loads when the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from modelred_provider.operators.validation import check_identifier, is_templated

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["ModelRedDeleteModelOperator", "ModelRedRegisterModelOperator"]

#: A ``provider_config`` key containing one of these words is a secret: refused in DAG code, and an
#: extra of the provider connection with such a name is masked in logs.
_SECRET_KEY_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "auth", "private")


def _looks_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(word in lowered for word in _SECRET_KEY_WORDS)


class ModelRedRegisterModelOperator(BaseOperator):
    """Register a model in ModelRed (resources API), or reuse the existing one with this ``model_id``.

    :param model_id: the model's slug in ModelRed (``modelId``), e.g. ``"fraud-bot-{{ ds_nodash }}"``;
        what the assessment operator's ``model`` then takes.
    :param provider: ModelRed's provider name: ``openai``, ``anthropic``, ``azure``, ``huggingface``,
        ``rest``, ``bedrock``, ``sagemaker``, ``google``, ``grok`` or ``openrouter``.
    :param display_name: the name shown in ModelRed (default: ``model_id``).
    :param description: optional text shown in ModelRed.
    :param provider_config: the provider's settings that are *not* secret (``{"model": "gpt-4o"}``,
        an endpoint URL, ...). A key that looks like a secret (``apiKey``, ``token``, ...) is refused:
        secrets come from ``provider_conn_id``.
    :param provider_conn_id: an Airflow connection holding the target model's credentials: its password
        becomes ``providerConfig[secret_field]``, its host (when set) ``providerConfig["baseUrl"]``, and
        each of its extras a ``providerConfig`` entry of the same name (secret-looking names are masked).
    :param secret_field: the ``providerConfig`` key of the connection's password (default ``apiKey``).
    :param modelred_conn_id: the ModelRed connection.

    Returns (and pushes as XCom ``return_value``) ``{id, model_id, provider, display_name, created}``:
    ``created`` is False when an existing, matching model was reused. An existing model that differs
    (provider, display name or the config's model name) fails the task. A reused model keeps the
    credentials it was registered with (ModelRed never sends ``providerConfig`` back to compare).
    """

    template_fields: Sequence[str] = (
        "model_id",
        "display_name",
        "description",
        "provider_config",
        "modelred_conn_id",
    )
    template_fields_renderers = {"provider_config": "json"}
    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        model_id: str,
        provider: str,
        display_name: str | None = None,
        description: str | None = None,
        provider_config: dict[str, Any] | None = None,
        provider_conn_id: str | None = None,
        secret_field: str = "apiKey",
        modelred_conn_id: str = "modelred_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_identifier(model_id, "model_id")
        if not isinstance(provider, str) or not provider.strip():
            raise ValueError(f"provider={provider!r}: give ModelRed's provider name, e.g. 'openai'.")
        if provider_config is not None and not isinstance(provider_config, dict):
            raise ValueError(
                f"provider_config must be a dict of non-secret settings, got {provider_config!r}"
            )
        secrets = sorted(k for k in (provider_config or {}) if isinstance(k, str) and _looks_secret(k))
        if secrets:
            raise ValueError(
                f"provider_config has {secrets}, which look like secrets: DAG code is no place for them. "
                "Put them in an Airflow connection and pass provider_conn_id (its password and extras "
                "become providerConfig entries)."
            )
        if provider_conn_id is not None:
            check_identifier(provider_conn_id, "provider_conn_id")
        check_identifier(secret_field, "secret_field")
        self.model_id = model_id
        self.provider = provider.strip().lower()
        self.display_name = display_name
        self.description = description
        self.provider_config = provider_config
        self.provider_conn_id = provider_conn_id
        self.secret_field = secret_field
        self.modelred_conn_id = modelred_conn_id

    def _credentials(self) -> tuple[dict[str, Any], list[str]]:
        """Read the connection's part of ``providerConfig``, and every secret value in it (to mask/scrub)."""
        if self.provider_conn_id is None:
            return {}, []
        from airflow.sdk import BaseHook
        from airflow.sdk.log import mask_secret

        conn = BaseHook.get_connection(self.provider_conn_id)
        extras = conn.extra_dejson
        extras = extras if isinstance(extras, dict) else {}  # the extra may be JSON of another shape
        config: dict[str, Any] = {self.secret_field: conn.password} if conn.password else {}
        if conn.host:
            config["baseUrl"] = conn.host
        config.update(extras)
        secrets = [conn.password] if conn.password else []
        secrets += [v for k, v in extras.items() if _looks_secret(str(k)) and isinstance(v, str) and v]
        for secret in secrets:
            mask_secret(secret)
        return config, secrets

    def execute(self, context: Context) -> dict[str, Any]:
        from modelred_provider.api.errors import ModelRedError
        from modelred_provider.hooks.modelred import ModelRedHook

        if is_templated(self.model_id):  # a template that did not render
            raise ValueError(f"model_id={self.model_id!r} was not rendered")
        check_identifier(self.model_id, "model_id")
        rendered = self.provider_config or {}
        if not isinstance(rendered, dict):
            raise ValueError(f"provider_config must render to a dict, got {type(rendered).__name__}")
        credentials, secrets = self._credentials()
        config = {**rendered, **credentials}
        hook = ModelRedHook(modelred_conn_id=self.modelred_conn_id)
        try:
            model, created = hook.create_model(
                self.model_id,
                provider=self.provider,
                display_name=self.display_name or self.model_id,
                provider_config=config,
                description=self.description,
            )
        except ModelRedError as error:
            text = str(error)
            if any(secret in text for secret in secrets):  # a server that echoed the config back
                for secret in secrets:
                    text = text.replace(secret, "***")
                raise ModelRedError(text, operation="create model") from None
            raise
        finally:
            hook.close()
        self.log.info(
            "%s ModelRed model %s (id %s, provider %s)",
            "Registered" if created else "Reusing the existing",
            model.model_id,
            model.id,
            model.provider,
        )
        return {
            "id": model.id,
            "model_id": model.model_id,
            "provider": model.provider,
            "display_name": model.display_name,
            "created": created,
        }


class ModelRedDeleteModelOperator(BaseOperator):
    """Delete a model from ModelRed; a model already gone is not an error.

    :param model: the model's slug or id (templated).
    :param registered_by: instead of ``model``: the task id of a ``ModelRedRegisterModelOperator``;
        its model is deleted only if that task created it (a reused model is left alone). As a
        teardown: ``register >> assess >> ModelRedDeleteModelOperator(task_id="delete",
        registered_by="register").as_teardown(setups=register)``.
    :param modelred_conn_id: the ModelRed connection.

    Returns ``{"model": <id or slug>, "deleted": bool}`` (False: already gone, or left alone).
    """

    template_fields: Sequence[str] = ("model", "modelred_conn_id")
    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        model: str | None = None,
        registered_by: str | None = None,
        modelred_conn_id: str = "modelred_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (model is None) == (registered_by is None):
            raise ValueError("Give exactly one of model (a slug or id) and registered_by (a task id).")
        for name, value in (("model", model), ("registered_by", registered_by)):
            if value is not None:
                check_identifier(value, name)
        self.model = model
        self.registered_by = registered_by
        self.modelred_conn_id = modelred_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from modelred_provider.hooks.modelred import ModelRedHook

        target = self.model
        if self.registered_by is not None:
            registered = context["ti"].xcom_pull(task_ids=self.registered_by)
            if not isinstance(registered, dict) or not registered.get("id"):
                self.log.info("Task %s registered no model: nothing to delete", self.registered_by)
                return {"model": None, "deleted": False}
            if registered.get("created") is not True:
                self.log.info(
                    "Model %s existed before task %s reused it: leaving it in place",
                    registered.get("model_id"),
                    self.registered_by,
                )
                return {"model": registered["id"], "deleted": False}
            target = str(registered["id"])
        if target is None:  # the parameters are checked at parse: model or registered_by is set
            raise ValueError("give model or registered_by")
        with ModelRedHook(modelred_conn_id=self.modelred_conn_id) as hook:
            deleted = hook.delete_model(target)
        self.log.info("%s ModelRed model %s", "Deleted" if deleted else "Already gone:", target)
        return {"model": target, "deleted": deleted}
