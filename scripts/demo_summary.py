"""Prints the release gate's latest result from the demo's metadata database: the assessment task's
state and its summary (the XCom return value, or the summary pushed before a gate failure)."""

from __future__ import annotations

import json
import sys


def main(dag_id: str) -> int:
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        if run is None:
            print(f"No run of {dag_id} was recorded.")
            return 1
        print(f"DAG run {run.run_id}: {run.state}")
        for ti in sorted(
            run.get_task_instances(session=session), key=lambda t: t.start_date or run.start_date
        ):
            print(f"  {ti.task_id:<14} {ti.state}")
        summary, source = None, ""
        for key in ("return_value", "assessment_summary"):
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_id, run_id=run.run_id, task_id="assess_model", key=key)
                .one_or_none()
            )
            if row is not None:
                summary, source = XComModel.deserialize_value(row), key
                break
    if summary is None:
        print("The assessment task published no summary.")
        return 1
    gate = summary.get("gate") or {}
    print()
    print(f"Assessment  {summary['assessment_id']}  ({summary['url']})")
    print(f"Model       {summary['model']}   status {summary['status']}")
    print(f"Score       {summary['score']}/100   risk {summary['risk_level']}")
    totals = summary["totals"]
    print(f"Tests       {totals['passed']}/{totals['tests']} passed")
    print(f"Vulns       {summary['vulnerabilities_by_severity']}")
    print(f"Gate        {'PASSED' if gate.get('passed') else 'FAILED'}")
    for reason in gate.get("reasons", []):
        print(f"            - {reason}")
    print()
    print(f"The summary as the task published it (XCom {source!r}):")
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
