"""The "ModelRed Assessment" extra link: the assessment's page in the ModelRed dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.xcom import BaseXCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["XCOM_ASSESSMENT_ID", "XCOM_ASSESSMENT_URL", "ModelRedAssessmentLink"]

#: XCom keys the operator pushes before waiting (the sensor too).
XCOM_ASSESSMENT_ID = "assessment_id"
XCOM_ASSESSMENT_URL = "assessment_url"


def _may_have_pushed(operator: Any, ti: Any) -> bool:
    """Whether the task can have pushed ``assessment_url``.

    Reading an XCom that does not exist makes Airflow log ``[error] XCom not found``, a false alarm
    after a failure before the launch.

    In the worker, Airflow builds the link when the task ends, with the running task instance: the
    task pushed the ids if it says so (the operator's ``_launched_id``, the sensor's ``_watched_id``), or
    if this try resumed from a deferral (it defers only after pushing them). Anything else (a plain key,
    an Airflow that does not say whether it resumed): read.
    """
    if any(getattr(operator, name, None) for name in ("_launched_id", "_watched_id")):
        return True
    return bool(getattr(getattr(ti, "_ti_context_from_server", None), "next_method", True))


class ModelRedAssessmentLink(BaseOperatorLink):
    """The URL the task pushed to XCom as ``assessment_url``; empty, quietly, without an assessment."""

    name = "ModelRed Assessment"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if not _may_have_pushed(operator, ti_key):
            return ""
        # Airflow hands a TaskInstanceKey here; BaseXCom types it as its structural TIKeyProtocol.
        url = BaseXCom.get_value(ti_key=ti_key, key=XCOM_ASSESSMENT_URL)  # type: ignore[arg-type]
        return str(url) if url else ""
