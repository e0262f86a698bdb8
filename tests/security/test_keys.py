"""Bad keys and echoes (issue 9, item 5): a key that could leave in a split or encoded form is refused
when the connection is read, by an error that holds none of it; a server echoing the key (plainly,
JSON-escaped, percent-encoded) never gets it into an error, a log line, test_connection's message or
the task's summary. The scrub is one function (``api/redact.py``) every server string passes."""

from __future__ import annotations

import asyncio
import json

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.redact import scrub
from modelred_provider.hooks.modelred import ModelRedHook

from .hostile import SECRET, Conn, HostileServer, Request, assessment, response
from .support import LeakCheck, connect


@pytest.mark.parametrize(
    "bad_key",
    [
        "mr_s3cr3t\r\nkEy_9f8e7d6c5b",  # CR LF inside: Airflow's masker misses the halves
        "mr_s3cr3t kEy_9f8e7d6c5b",  # a space
        "mr_s3cr3t_kEy_9f8e7d6c5b\u00e9\u4e2d",  # non-Latin-1: a UnicodeEncodeError's repr held it
        "mr_s3cr3t_kEy_\x00_9f8e7d6c5b",  # a control character
    ],
)
def test_a_key_that_is_not_printable_ascii_is_refused_without_showing_it(
    bad_key: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    def never(conn: Conn, request: Request) -> None:
        raise AssertionError("no request may be sent with a bad key")

    with HostileServer(never) as server:
        hook = connect(monkeypatch, server.url, bad_key)
        with pytest.raises(e.ModelRedConfigurationError, match="not printable ASCII") as caught:
            hook.list_models()
        ok, message = connect(monkeypatch, server.url, bad_key).test_connection()
    assert not ok and "not printable ASCII" in message
    for text in (str(caught.value), repr(caught.value), message):
        for part in ("s3cr3t", "9f8e7d6c5b", "kEy"):
            assert part not in text
    assert server.requests == []
    leaks.add(caught.value, message)


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


@pytest.mark.parametrize("form", ["plain", "json-escaped", "percent-encoded"])
def test_an_echoed_key_never_reaches_an_error_test_connection_or_a_log(
    form: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    echoed = {
        "plain": SECRET,
        "json-escaped": _escaped(SECRET),
        "percent-encoded": "".join(f"%{ord(ch):02X}" if ch == "_" else ch for ch in SECRET),
    }[form]
    body = (
        '{"error": "invalid key '
        + echoed
        + '", "code": "BAD_'
        + echoed
        + '", "details": {"k": "'
        + echoed
        + '"}}'
    )

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(400, body, {"Content-Type": "application/json"}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET)
        with pytest.raises(e.ModelRedAPIError) as caught:
            hook.list_models()
        assert "invalid key ***" in str(caught.value)
        ok, message = hook.test_connection()
        assert not ok and "***" in message

        async def poll() -> e.ModelRedError:
            async with connect(monkeypatch, server.url, SECRET) as ahook:
                with pytest.raises(e.ModelRedError) as acaught:
                    await ahook.aget_assessment("asm_1")
                return acaught.value

        aerror = asyncio.run(poll())
    leaks.add(caught.value, message, aerror, json.dumps(caught.value.details))


def test_an_echoed_key_in_an_assessment_never_reaches_the_summary(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """The server puts the key, JSON-escaped, into a FAILED assessment's error and a report's text:
    the parsed assessment, the summary (what goes to XCom) and the log report hold ``***``."""
    from modelred_provider.operators.summary import build_summary, render_report

    echo = _escaped(SECRET)
    raw = json.dumps(
        assessment(
            status="FAILED",
            errorMessage="PLACEHOLDER_A",
            report={"vulnerabilities": [{"severity": "high", "description": "PLACEHOLDER_B"}]},
        )
    )
    raw = raw.replace("PLACEHOLDER_A", "probe used " + echo).replace("PLACEHOLDER_B", echo)

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, raw, {"Content-Type": "application/json"}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET)
        found = hook.get_assessment("asm_1")
    summary = build_summary(found, url=found.url, model="m", gate=None)
    assert summary["error"] == "probe used ***"
    leaks.add(json.dumps(summary), render_report(found, summary), repr(found))


def test_the_scrub_covers_the_secret_part_and_its_encodings() -> None:
    ModelRedHook  # the hook registers each key it reads; the scrub then knows every form  # noqa: B018
    from modelred_provider.api.redact import register_secret

    register_secret(SECRET)
    for text in (SECRET, SECRET[3:], SECRET.replace("_", "%5F")):
        assert scrub(f"<{text}>") == "<***>"
    assert scrub("nothing secret here") == "nothing secret here"
