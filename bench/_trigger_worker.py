"""The trigger process of bench/triggerer.py: N triggers of one kind in one asyncio loop, as the triggerer.

Run by the orchestrator, never by hand. Each trigger is rebuilt from its ``serialize()`` output (as the
triggerer does) and driven in its own task (``async for event in trigger.run()``, then ``cleanup()``),
after ``greenback.ensure_portal()`` like ``TriggerRunner.run_trigger``. Prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELRED_CONN = "bench_modelred"
HTTP_CONN = "bench_http"


def make_trigger(kind: str, assessment_id: str, poll: float, api_path: str) -> Any:
    """The trigger a deferring task would hand to the triggerer, rebuilt from its serialized form."""
    if kind.startswith("modelred"):
        from modelred_provider.api.vocabulary import ApiGeneration
        from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

        trigger = ModelRedAssessmentTrigger(
            assessment_id=assessment_id,
            modelred_conn_id=MODELRED_CONN,
            api_generation=ApiGeneration.RESOURCES,
            poll_interval=poll,
            deadline=None,
        )
    elif kind == "floor":
        from _floor_trigger import FloorTrigger

        conn = json.loads(os.environ["AIRFLOW_CONN_BENCH_MODELRED"])
        trigger = FloorTrigger(url=f"{conn['host']}/{api_path}/{assessment_id}", poll_interval=poll)
    elif kind == "http_sensor":
        from _peer_triggers import HttpSensorTriggerWithCheck

        trigger = HttpSensorTriggerWithCheck(
            endpoint=f"{api_path}/{assessment_id}", http_conn_id=HTTP_CONN, method="GET", poke_interval=poll
        )
    elif kind == "http_event":
        from airflow.providers.http.triggers.http import HttpEventTrigger

        trigger = HttpEventTrigger(
            response_check_path="_peer_triggers.assessment_is_terminal",
            http_conn_id=HTTP_CONN,
            method="GET",
            endpoint=f"{api_path}/{assessment_id}",
            poll_interval=poll,
        )
    else:
        raise SystemExit(f"unknown trigger kind {kind!r}")
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


class ConnectionCounter:
    """TCP connections the loop opens: aiohttp, like all asyncio clients, goes through create_connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.opened = 0
        original = loop.create_connection

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.opened += 1
            return await original(*args, **kwargs)

        loop.create_connection = counting  # type: ignore[method-assign]


class Heartbeat:
    """A 10 ms sleeper; its lateness is the loop's lag."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.max_lag = 0.0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.period)
            self.max_lag = max(self.max_lag, time.perf_counter() - t - self.period)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())


def control(method: str, url: str) -> Any:
    req = urllib.request.Request(url, method=method)
    req.add_header("Content-Type", "application/json")  # the control API takes writes only as JSON
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    body = json.loads(raw) if raw else {}
    return body.get("counts", body) if isinstance(body, dict) else body


SHARED_STREAMS: Any = None
STANDALONE = False
_TRIGGER_IDS = iter(range(1, 10**9))


async def _events_of(trigger: Any, trigger_id: int) -> Any:
    """Like TriggerRunner.run_trigger: the shared stream when the trigger declares a key, else run().

    ``STANDALONE`` (kind ``modelred_standalone``) runs every trigger through ``run()``, as ``dag.test()``
    does: one GET per trigger per interval.
    """
    from airflow.triggers.base import BaseEventTrigger

    key = trigger.shared_stream_key() if isinstance(trigger, BaseEventTrigger) and not STANDALONE else None
    if key is None:
        async for event in trigger.run():
            yield event
        return
    global SHARED_STREAMS
    if SHARED_STREAMS is None:
        from airflow.triggers.shared_stream import SharedStreamManager

        SHARED_STREAMS = SharedStreamManager()
    stream = SHARED_STREAMS.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
    try:
        async for event in trigger.filter_shared_stream(stream):
            yield event
    finally:
        await SHARED_STREAMS.unsubscribe(trigger_id, key)


async def drive(trigger: Any, events: list[Any], start_after: float = 0.0) -> None:
    # Deferrals arrive spread over time, so waiting triggers poll out of phase; start_after spreads them.
    await asyncio.sleep(start_after)
    try:
        import greenback

        if os.environ.get("AIRFLOW_DISABLE_GREENBACK_PORTAL", "").lower() != "true":
            await greenback.ensure_portal()
    except ImportError:
        pass
    try:
        async for event in _events_of(trigger, next(_TRIGGER_IDS)):
            events.append(event)
    finally:
        await trigger.cleanup()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    global STANDALONE
    STANDALONE = args.kind == "modelred_standalone"
    loop = asyncio.get_running_loop()
    conns = ConnectionCounter(loop)
    heartbeat = Heartbeat()
    heartbeat.start()
    proc = psutil.Process()
    ids: list[str] = json.loads(Path(args.ids_file).read_text())  # noqa: ASYNC240 - before any trigger
    ctl = args.control_url

    async def ctl_call(method: str, path: str) -> Any:
        return await loop.run_in_executor(None, control, method, f"{ctl}{path}")

    # Warm-up: one trigger of the kind, on an assessment we complete, so that lazy imports, the
    # connection look-up code and the first-session set-up are not charged to the N waiting triggers.
    warm_events: list[Any] = []
    if args.kind != "idle":
        warm = make_trigger(args.kind, args.warmup_id, args.poll, args.api_path)
        await ctl_call("POST", f"/_emulator/assessments/{args.warmup_id}/complete")
        await asyncio.wait_for(drive(warm, warm_events), timeout=60)
        del warm
    gc.collect()
    await asyncio.sleep(0.5)
    rss0 = proc.memory_info().rss
    opened0 = conns.opened
    server_accepted0 = (await ctl_call("GET", "/_emulator/counts")).get("connections", 0)

    events: list[Any] = []
    triggers = (
        [] if args.kind == "idle" else [make_trigger(args.kind, i, args.poll, args.api_path) for i in ids]
    )
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    spread = args.poll if args.stagger else 0.0
    n = max(1, len(triggers))
    tasks = [loop.create_task(drive(t, events, spread * k / n)) for k, t in enumerate(triggers)]
    del triggers
    # Ramp: every trigger has started and polled at least once before the measured window opens.
    await asyncio.sleep(spread + args.poll * 1.5)
    ramp_cpu = time.process_time() - cpu_start
    counts0 = await ctl_call("GET", "/_emulator/counts")
    heartbeat.max_lag = 0.0
    opened_w0 = conns.opened
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0 = time.process_time()
    rss_samples = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.window:
        await asyncio.sleep(1.0)
        rss_samples.append(proc.memory_info().rss)
    cpu1 = time.process_time()
    wall = time.perf_counter() - t0
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(35)
    lag = heartbeat.max_lag
    opened_w1 = conns.opened
    counts1 = await ctl_call("GET", "/_emulator/counts")
    open_now = sum(
        1 for c in proc.net_connections(kind="tcp") if c.raddr and c.raddr[1] == args.emulator_port
    )
    rss1 = max(rss_samples) if rss_samples else proc.memory_info().rss
    # Completion: mark every assessment complete as from the UI; every trigger must yield its event.
    t_complete = time.perf_counter()
    for i in range(0, len(ids), 50):
        await asyncio.gather(
            *(ctl_call("POST", f"/_emulator/assessments/{a}/complete") for a in ids[i : i + 50])
        )
    done, pending = await asyncio.wait(tasks, timeout=args.poll * 3 + 60) if tasks else (set(), set())
    t_all_events = time.perf_counter() - t_complete
    for task in pending:
        task.cancel()
    failures = [repr(t.exception())[:300] for t in done if t.exception() is not None]
    server_accepted_end = (await ctl_call("GET", "/_emulator/counts")).get("connections", 0)
    delta = {k: counts1.get(k, 0) - counts0.get(k, 0) for k in set(counts0) | set(counts1)}
    delta = {k: v for k, v in delta.items() if v and "/_emulator" not in k}
    # HTTP GETs of assessments (one per poll; in the shared-stream experiment also the shared lists).
    polls = sum(v for k, v in delta.items() if k.startswith("GET ") and "/assessments" in k)
    cpu = cpu1 - cpu0
    return {
        "kind": args.kind,
        "staggered": args.stagger,
        "n": len(ids) if args.kind != "idle" else 0,
        "poll_interval": args.poll,
        "window_s": round(wall, 2),
        "cpu_window_s": round(cpu, 4),
        "cpu_ramp_s": round(ramp_cpu, 4),
        "requests_in_window": delta,
        "polls_in_window": polls,
        "cpu_s_per_1000_polls": round(cpu / polls * 1000, 4) if polls else None,
        # Nominal checks: each waiting trigger learns its status once per interval, whatever the transport
        # (one GET each, or its share of one list). The normaliser for the shared-stream experiment.
        "checks_in_window": round(len(ids) * wall / args.poll) if args.kind != "idle" else 0,
        "rss_before_mib": round(rss0 / 2**20, 1),
        "rss_waiting_mib": round(rss1 / 2**20, 1),
        "rss_per_trigger_kib": round((rss1 - rss0) / 1024 / len(ids), 2) if args.kind != "idle" else None,
        "tcp_opened_total": conns.opened - opened0,
        "tcp_opened_in_window": opened_w1 - opened_w0,
        "tcp_open_at_window_end": open_now,
        # The emulator's own count of accepted connections (includes the few control-API calls).
        "server_tcp_accepted_in_window": delta.get("connections"),
        "server_tcp_accepted_total": server_accepted_end - server_accepted0,
        "loop_lag_max_ms": round(lag * 1000, 2),
        "events": len(events),
        "events_ok": sum(1 for e in events if _ok(e)),
        "seconds_to_all_events": round(t_all_events, 2),
        "not_finished": len(pending),
        "failures": failures[:5],
        "warmup_events": len(warm_events),
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }


def _ok(event: Any) -> bool:
    payload = getattr(event, "payload", event)
    if payload is True:
        return True
    return isinstance(payload, dict) and payload.get("status") == "success"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True)
    ap.add_argument("--ids-file", required=True)
    ap.add_argument("--warmup-id", required=True)
    ap.add_argument("--control-url", required=True)
    ap.add_argument("--emulator-port", type=int, required=True)
    ap.add_argument("--api-path", default="api/assessments")
    ap.add_argument("--poll", type=float, default=5.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the window to stderr")
    ap.add_argument("--stagger", action=argparse.BooleanOptionalAction, default=True)
    result = asyncio.run(main(ap.parse_args()))
    print("RESULT " + json.dumps(result))
