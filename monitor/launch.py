"""The `pgwarden` executable's first statements, before anything is imported.

`pgwarden run` stops cleanly, exit 0, on a SIGTERM at any moment, start-up included. So the
daemon's signals are blocked here first: one that comes while Python imports the CLI (about
0.1 s) waits, pending. The command then decides (monitor/cli/__init__.py): `run` leaves them
blocked for its daemon's signal thread (monitor/scheduler.py); any other command unblocks
them, and a pending SIGTERM becomes `Terminated` there, as it would have a moment later.
"""

import signal

DAEMON_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, DAEMON_SIGNALS)
    from monitor.cli import entry

    entry()
