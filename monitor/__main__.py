"""The `pgwarden` executable (and `python -m monitor`).

The SIGTERM handler is set here, before anything else is imported: a SIGTERM during
start-up (the imports take about 0.1 s) ends the process with exit 0, not with death by
the signal. Then the command decides (monitor/cli.py): `run` blocks the signal for its
daemon's signal thread; the other commands die of it as usual.
"""

import signal


def _stopped_before_start(_signum: int, _frame: object) -> None:
    raise SystemExit(0)  # nothing has been done yet: stopping is clean


def main() -> None:
    signal.signal(signal.SIGTERM, _stopped_before_start)
    from monitor.cli import entry

    entry()


if __name__ == "__main__":
    main()
