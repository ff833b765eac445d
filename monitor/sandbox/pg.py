"""A throwaway PostgreSQL cluster, run as `postgres` when we are root.

The binaries are Debian's (/usr/lib/postgresql/<v>/bin), built with PAM and OpenSSL, or
else those bundled in pip's `pgserver` package (the `demo` extra), built with neither.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

LOG_LINE_PREFIX = "%t:%r:%u@%d:[%p]:"


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM that arrive inside the block act once it has finished, as they would
    have then. Python's handlers are swapped, not the signal mask: a mask is per thread, and
    the kernel hands the signal to any thread not blocking it (the demo's moto and Slack
    servers), after which Python runs the handler in the main thread all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs handlers in the main thread only: none can interrupt this one
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


def find_pg_bindir(*, bundled: bool = False) -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin that has initdb and pg_ctl; with `bundled`,
    pgserver's binaries when Debian's are missing."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    return pgserver_bindir() if bundled else None


def pgserver_bindir() -> Path | None:
    """The bin directory inside pip's `pgserver` package, if it is installed."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "initdb").exists() else None


def built_with(bindir: Path, feature: str) -> bool:
    """Was this PostgreSQL configured `--with-<feature>` ("openssl", "pam")? pgserver's is
    built with neither."""
    result = subprocess.run(
        [str(bindir / "pg_config"), "--configure"], capture_output=True, text=True, timeout=10
    )
    return f"'--with-{feature}'" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """initdb + pg_ctl in `base`, listening on 127.0.0.1:<random port>, trust auth locally.

    The logging collector writes `log/postgresql.log` with RDS's log_line_prefix and
    log_connections / log_disconnections on.
    """

    def __init__(self, bindir: Path, base: Path) -> None:
        self.bindir = bindir
        self.base = base
        self.datadir = base / "data"
        self.log_dir = base / "log"
        self.socket_dir = base / "sock"
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.superuser = "postgres"
        self._as_postgres = os.geteuid() == 0

    @property
    def log_file(self) -> Path:
        return self.log_dir / "postgresql.log"

    def dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        return f"host={self.host} port={self.port} dbname={dbname} user={user or self.superuser}"

    def init(self) -> None:
        for d in (self.base, self.log_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            for d in (self.base, self.log_dir, self.socket_dir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-A",
            "trust",
            "-U",
            self.superuser,
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "logging_collector": "on",
            "log_directory": f"'{self.log_dir}'",
            "log_filename": "'postgresql.log'",
            "log_line_prefix": f"'{LOG_LINE_PREFIX}'",
            "log_connections": "on",
            "log_disconnections": "on",
            "log_timezone": "'UTC'",
            "max_connections": "300",
        }
        self.append_conf(settings)

    def append_conf(self, settings: dict[str, str]) -> None:
        """Add settings to postgresql.conf; call `reload()` or `restart()` afterwards."""
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        self._write(self.datadir / "postgresql.conf", lines, append=True)

    def write_file(self, path: Path, text: str, *, append: bool = False) -> None:
        """Write a file the server can read (owned by postgres when we are root)."""
        self._write(path, text, append=append)

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.base / "startup.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "reload")

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def log_lines(self, start: int, until: str, count: int = 1, timeout_s: float = 10) -> list[str]:
        """The log lines written after character `start`, once `count` of them hold `until`
        (the logging collector writes them a moment after the event), or at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.log_text()[start:].splitlines()
            if sum(until in line for line in lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def settled_log(self) -> list[str]:
        """The log of everything done so far, lines a backend handed the logging collector a
        moment ago included: they reach the file in the order sent, so a marker line raised
        now, on a connection of its own, comes after them all. That connection's own lines
        and the marker are left out."""
        import psycopg
        from psycopg import sql

        marker = f"pgwarden-sandbox-settled-{secrets.token_hex(8)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            own = f":[{conn.info.backend_pid}]:"
            conn.execute(sql.SQL("DO $$BEGIN RAISE LOG {}; END$$").format(sql.Literal(marker)))
        lines = self.log_lines(0, marker)
        end = next((i for i, line in enumerate(lines) if marker in line), None)
        if end is None:
            raise RuntimeError(f"{self.log_file}: the marker line never arrived")
        return [line for line in lines[:end] if own not in line]

    def _write(self, path: Path, text: str, *, append: bool) -> None:
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Ctrl-C and SIGTERM wait until the tool has finished. Interrupted, subprocess.run
        # would kill runuser and leave initdb, or a postmaster on its way up, writing into the
        # directory that the cleanup is removing. The steps take about a second.
        with signals_deferred():
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")
