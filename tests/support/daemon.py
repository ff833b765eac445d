"""`pgwarden run` as a subprocess, and waiting on what it does (every wait has a deadline)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], deadline_s: float = 30) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(0.1)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans read the same in TOML


def write_toml(path: Path, raw: dict[str, Any]) -> None:
    """A small TOML writer for test configs: tables, arrays of tables, inline values."""
    lines: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if not isinstance(value, dict) and not (
                isinstance(value, list) and any(isinstance(v, dict) for v in value)
            ):
                lines.append(f"{key} = {toml_value(value)}")
        for key, value in body.items():
            bare = key if re.fullmatch(r"[A-Za-z0-9_]+", key) else json.dumps(key)
            name = f"{prefix}.{bare}" if prefix else bare
            if isinstance(value, dict):
                lines.append(f"\n[{name}]")
                table(name, value)
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for item in value:
                    lines.append(f"\n[[{name}]]")
                    table(name, item)

    table("", raw)
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == raw, "write_toml cannot express this config"
    path.write_text(text)


class DaemonProcess:
    """One `pgwarden run`, its output in a file."""

    def __init__(self, config: Path, log: Path, metrics_port: int | None = None) -> None:
        exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"
        self.log_path = log
        self.metrics_port = metrics_port
        self._out = log.open("a")
        self.proc = subprocess.Popen(
            [exe, "--log-format", "json", "run", "--config", str(config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SLACK_TOKEN": "xoxb-test"},
        )

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"message": line})
        return out

    def logged(self, text: str) -> bool:
        return any(text in str(entry.get("message")) for entry in self.log_lines())

    def get(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.metrics_port}{path}")

    def metric(self, name: str, **labels: str) -> float | None:
        """The sum of the samples of `name` with these labels; None if there is none."""
        from prometheus_client.parser import text_string_to_metric_families

        status, text = self.get("/metrics")
        assert status == 200, text
        values = [
            float(sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(values) if values else None

    def wait_serving(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            try:
                return self.get("/healthz")[0] == 200
            except OSError:
                return False

        wait_for("the metrics server", up)

    def stop(self, sig: int = signal.SIGTERM, deadline_s: float = 10) -> tuple[int, float]:
        """Send `sig`; return the exit code and how long the exit took."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"no exit {deadline_s} s after {signal.Signals(sig).name}"
            ) from None
        finally:
            self._out.close()
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
