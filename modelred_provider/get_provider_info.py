"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from modelred_provider import __version__

__all__ = ["get_provider_info"]


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
        "hooks": [{"integration-name": "ModelRed", "python-modules": ["modelred_provider.hooks.modelred"]}],
        "operators": [
            {
                "integration-name": "ModelRed",
                "python-modules": [
                    "modelred_provider.operators.assessment",
                    "modelred_provider.operators.assessment_report",
                    "modelred_provider.operators.model",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "ModelRed", "python-modules": ["modelred_provider.sensors.assessment"]}
        ],
        "triggers": [
            {"integration-name": "ModelRed", "python-modules": ["modelred_provider.triggers.assessment"]}
        ],
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
                    "organization_id": {
                        "label": "Organization ID",
                        "description": "Sent as x-organization-id (resources API): scopes what the key sees.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_retries": {
                        "label": "Retry limit",
                        "description": "Extra attempts after a transient failure (429, 502-504, network).",
                        "schema": {"type": ["integer", "null"], "default": 3},
                    },
                    "retry_max_seconds": {
                        "label": "Retry time limit (seconds)",
                        "description": "Total time one call may spend retrying before it fails.",
                        "schema": {"type": ["number", "null"], "default": 120},
                    },
                    "verify_ssl": {
                        "label": "Verify TLS certificates",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "A PEM file to verify the server with, for a private CA.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "dashboard_url": {
                        "label": "Dashboard URL",
                        "description": "Where assessment links point; defaults to the Base URL.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API Key"},
                    "placeholders": {"host": "https://app.modelred.ai", "password": "mr_..."},
                },
            }
        ],
    }
