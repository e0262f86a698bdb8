"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from modelred_provider import __version__

__all__ = ["get_provider_info"]


def _modules(*modules: str) -> list[dict[str, Any]]:
    return [{"integration-name": "ModelRed", "python-modules": list(modules)}]


# The connection form's extras: name -> (label, JSON type, the hook's default), and their help texts.
# Every one is optional: a null type keeps the form from marking it required.
_CONN_FIELDS: dict[str, tuple[str, str, Any]] = {
    "organization_id": ("Organization ID", "string", None),
    "timeout": ("Request timeout (seconds)", "number", 30),
    "max_retries": ("Retry limit", "integer", 3),
    "retry_max_seconds": ("Retry time limit (seconds)", "number", 120),
    "verify_ssl": ("Verify TLS certificates", "boolean", True),
    "ca_bundle": ("CA bundle path", "string", None),
    "dashboard_url": ("Dashboard URL", "string", None),
}
_HELP = {
    "organization_id": "Sent as x-organization-id (resources API): scopes what the key sees.",
    "max_retries": "Extra attempts after a transient failure (429, 502-504, network).",
    "retry_max_seconds": "Total time one call may spend retrying before it fails.",
    "ca_bundle": "A PEM file to verify the server with, for a private CA.",
    "dashboard_url": "Where assessment links point; defaults to the Base URL.",
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-modelred",
        "name": "ModelRed",
        "description": (
            "Run ModelRed LLM red-team assessments from Airflow, defer while they run, gate on the score."
        ),
        "versions": [__version__],  # the one place: pyproject reads it too
        "integrations": [
            {
                "integration-name": "ModelRed",
                "external-doc-url": "https://modelred.ai",
                "tags": ["ai", "security"],
            }
        ],
        "hooks": _modules("modelred_provider.hooks.modelred"),
        "operators": _modules(
            "modelred_provider.operators.assessment",
            "modelred_provider.operators.assessment_report",
            "modelred_provider.operators.model",
        ),
        "sensors": _modules("modelred_provider.sensors.assessment"),
        "triggers": _modules("modelred_provider.triggers.assessment"),
        "extra-links": ["modelred_provider.links.assessment.ModelRedAssessmentLink"],
        "config": {
            "modelred": {
                "description": "Settings of the ModelRed provider on the triggerer.",
                "options": {
                    "shared_stream": {
                        "description": (
                            "Group the deferred ModelRed waits of one connection, API generation and poll "
                            "interval on a triggerer: one assessment list per interval for the group instead "
                            "of one GET per wait (Airflow 3.3 shared streams). False: every wait polls with "
                            "its own GETs. Read when a trigger is handed to the triggerer."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    }
                },
            }
        },
        "connection-types": [
            {
                "hook-class-name": "modelred_provider.hooks.modelred.ModelRedHook",
                "hook-name": "ModelRed",
                "connection-type": "modelred",
                "conn-fields": {
                    name: {
                        "label": label,
                        **({"description": _HELP[name]} if name in _HELP else {}),
                        "schema": {
                            "type": [kind, "null"],
                            **({} if default is None else {"default": default}),
                        },
                    }
                    for name, (label, kind, default) in _CONN_FIELDS.items()
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API Key"},
                    "placeholders": {"host": "https://app.modelred.ai", "password": "mr_..."},
                },
            }
        ],
    }
