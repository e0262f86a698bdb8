"""The README's headline operator, run against every model the emulator seeds.

Run by ``tests/dags/test_readme_snippet.py``.

The operator's keyword arguments are read from README.md itself (the first python block that builds a
``ModelRedAssessmentOperator``), so the test checks the snippet a reader copies, not a paraphrase. Only
what a test must change is overridden: the task id, the model, a fast poll, a short timeout (the stuck
model would otherwise wait the 6 h default) and, for org_globex's models, a connection that selects it.
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

import modelred_provider
from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.testing.catalogue import ORG_GLOBEX, seed_models

README = Path(modelred_provider.__file__).resolve().parents[1] / "README.md"
GLOBEX_CONN_ID = "modelred_globex"


def readme_operator_kwargs(text: str | None = None) -> dict[str, Any]:
    """The keyword arguments of the README's first ``ModelRedAssessmentOperator(...)`` call."""
    text = README.read_text(encoding="utf-8") if text is None else text
    for block in text.split("```python")[1:]:
        code = block.split("```", 1)[0]
        for node in ast.walk(ast.parse(code)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "ModelRedAssessmentOperator"
            ):
                return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    raise AssertionError("README.md has no python block building a ModelRedAssessmentOperator")


SNIPPET = readme_operator_kwargs()
MODELS = {m["modelId"]: m["organizationId"] for m in seed_models()}

with DAG("mr_readme_snippet", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as README_DAG:
    for slug, org in MODELS.items():
        ModelRedAssessmentOperator(
            **{
                **SNIPPET,
                "task_id": f"assess_{slug.replace('-', '_')}",
                "model": slug,
                "poll_interval": 0.3,
                "timeout": 4,
                "modelred_conn_id": GLOBEX_CONN_ID if org == ORG_GLOBEX else "modelred_default",
            }
        )
