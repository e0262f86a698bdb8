"""Fixtures of the attack catalogue: a connection to a hostile server, and a leak check on every test.

Every test of this folder that uses ``leaks`` ends with a grep for the API key (whole, and its secret
part) in everything the test saw: log records at every level, stdout/stderr, and each string the
test adds with ``leaks.add(...)`` (error messages, reprs, test_connection's message, summaries).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from .hostile import SECRET_FORMS
from .support import LeakCheck


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[LeakCheck]:
    caplog.set_level(logging.DEBUG)
    check = LeakCheck(caplog, capsys)
    yield check
    everything = check.output()
    for form in SECRET_FORMS:
        assert form not in everything, f"the API key leaked: {form[:6]}... found"
