"""Hook ergonomics (issue 12): ``with ModelRedHook() as hook:``, ``list_probes`` beside the documented
``get_probes``, and a ``ProbeIndex`` that iterates over its probes."""

from __future__ import annotations

from modelred_provider.api.models import Probe, ProbeIndex
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.catalogue import seed_probes

from .support import set_connection


def test_with_block_closes_the_session(emu, monkeypatch) -> None:
    set_connection(monkeypatch, emu.url)
    before = emu.connections()
    with ModelRedHook() as hook:
        assert isinstance(hook, ModelRedHook)
        hook.list_models()
        hook.list_models()  # kept alive: one connection for both
        assert emu.connections() == before + 1
    # The block closed the session: the hook works again, on a new connection.
    hook.list_models()
    assert emu.connections() == before + 2
    hook.close()


def test_list_probes_and_get_probes_are_the_same_call(hook) -> None:
    listed = hook.list_probes(category="jailbreak")
    assert listed == hook.get_probes(category="jailbreak")  # the documented name keeps working
    assert {p.category for p in listed} == {"jailbreak"}


def test_probe_index_iterates_over_its_probes(hook) -> None:
    index = hook.list_probes()
    assert isinstance(index, ProbeIndex)
    assert len(index) == len(seed_probes()) == len(index.probes)
    assert list(index) == list(index.probes) and all(isinstance(p, Probe) for p in index)
    assert "dan_classic" in index and index.probes[0] in index and "no_such_probe" not in index
    assert index.keys() == [p.key for p in index.probes]
    assert len(ProbeIndex()) == 0 and list(ProbeIndex()) == []
