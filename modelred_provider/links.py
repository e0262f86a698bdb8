"""The "ModelRed Assessment" extra link: the assessment's page in the ModelRed dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.xcom import BaseXCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: XCom keys the operator pushes before waiting (the sensor too).
XCOM_ASSESSMENT_ID = "assessment_id"
XCOM_ASSESSMENT_URL = "assessment_url"


class ModelRedAssessmentLink(BaseOperatorLink):
    """Reads the URL the task pushed to XCom under ``assessment_url`` (empty before it did)."""

    name = "ModelRed Assessment"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Airflow hands a TaskInstanceKey here; BaseXCom types it as its structural TIKeyProtocol.
        url = BaseXCom.get_value(ti_key=ti_key, key=XCOM_ASSESSMENT_URL)  # type: ignore[arg-type]
        return str(url) if url else ""
