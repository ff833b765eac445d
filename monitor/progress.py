"""How long library work says how far it has got, for whoever shows it (the CLI's bar).

A function that takes `progress` calls it with (done, total) as it goes; the default shows
nothing, which is what the daemon and the tests get.
"""

from collections.abc import Callable

OnProgress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """Nobody is watching."""
