"""The sandbox's steps that must not be cut short: a signal waits for them, then acts."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from monitor.sandbox.pg import signals_deferred


class Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_waits_for_the_tool_then_acts(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Sent from another thread while the tool writes output, as the demo's servers' threads
    take it: the tool runs to its end, and the handler raises once the block is left."""
    sent, done = tmp_path / "sent", tmp_path / "done"
    # The tool talks until the signal has been sent, then a little more, then finishes.
    script = f"while [ ! -e {sent} ]; do echo waiting; sleep 0.05; done; echo more; touch {done}"
    # A thread started before the block, which blocks no signal: the kernel may pick it.
    idle = threading.Event()
    bystander = threading.Thread(target=idle.wait, daemon=True)
    bystander.start()

    def send() -> None:
        time.sleep(0.1)
        os.kill(os.getpid(), sig)
        sent.touch()

    previous = signal.signal(sig, _stop)
    try:
        with pytest.raises(Stopped) as raised:
            with signals_deferred():
                threading.Thread(target=send).start()
                result = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30)
            pytest.fail("the deferred signal did not act after the block")
        assert raised.value.args == (sig,)
        assert result.returncode == 0 and done.exists()
        assert signal.getsignal(sig) is _stop
    finally:
        idle.set()
        signal.signal(sig, previous)


def test_without_a_signal_the_handlers_are_restored_and_nothing_is_raised() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_deferred():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
