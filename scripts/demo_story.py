"""Reads `airflow dags test` output on stdin and prints the story of the run: launch, deferral,
progress, resume, score and the gate's verdict. The complete output goes to a log file (demo.sh)."""

from __future__ import annotations

import re
import sys

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[(?P<level>\w+)\s*\] (?P<msg>.*?)(?:\s+\[(?P<logger>[\w.]+)\](?P<rest>.*))?$"
)
KEEP = (
    ("Launched ModelRed assessment", "LAUNCH "),
    ("Reattach", "REATTACH"),
    ("Deferring until", "DEFER  "),
    ("Pausing task as DEFERRED", "DEFER  "),
    ("running trigger in line", "TRIGGER"),
    ("Assessment ", "POLL   "),
    ("Trigger completed", "TRIGGER"),
    ("ModelRed assessment", "RESULT "),
    ("quality gate", "GATE   "),
    ("Task failed", "FAILED "),
)


SUFFIX = re.compile(r"\s+\[[\w.]+\]\s+\w+=.*$")  # structlog's "[logger] loc=..." at a message's end


def main() -> None:
    in_block = False
    prev_level = ""
    running: dict[str, int] = {}
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        match = LINE.match(line)
        if not match:
            # Continuation of a multi-line message (the assessment report) or a task's print().
            shown = in_block or (prev_level not in ("warning", "error") and not line.startswith((" ", "\t")))
            if line.strip() and shown:
                print(f"           {SUFFIX.sub('', line)}", flush=True)
            continue
        in_block = False
        msg, level, logger = match["msg"], match["level"], match["logger"] or ""
        prev_level = level
        if "DagRun Finished" in msg:
            state = re.search(r"state=(\w+)", msg)
            print(f"RUN        DagRun finished: {state[1] if state else msg}", flush=True)
            continue
        started = re.search(r"\[DAG TEST\] starting task_id=(\S+)", msg)
        if started:
            print(f"TASK       {started[1]} starts", flush=True)
            continue
        resumed = re.search(r"\[DAG TEST\] running task <TaskInstance: [\w.]+\.(\w+) ", msg)
        if resumed:
            running[resumed[1]] = running.get(resumed[1], 0) + 1
            if running[resumed[1]] > 1:
                print(f"RESUME     {resumed[1]} resumes on the worker after the trigger fired", flush=True)
            continue
        for needle, tag in KEEP:
            if needle in msg and (needle != "Assessment " or "modelred" in logger):
                print(f"{tag}    {msg}", flush=True)
                in_block = tag.startswith("RESULT")
                break
        else:
            if level in ("error", "critical") or (level == "warning" and "modelred" in logger):
                print(f"{level.upper():<7}    {msg}", flush=True)


if __name__ == "__main__":
    main()
