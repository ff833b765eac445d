"""The detector registry. The registered name is the `[detectors.<name>]` config key.

A detector is two functions. `load` lives in the store (monitor/store/evidence.py, usage.py):
it runs the detector's queries on the store's connection and returns typed evidence.
`detect` is pure: it takes that evidence, `now` and the options, and returns findings.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from monitor.models import Finding
from monitor.registry import Access, Registry
from monitor.store.sqlite import Conn

if TYPE_CHECKING:
    from monitor.config import Config

F = TypeVar("F", bound=Callable[..., list[Finding]])
Loader = Callable[[Conn, datetime, Any], Any]


class DetectorOptions(BaseModel):
    """Options every detector has."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The options whose sum is how many days of the store's history the detector reads:
    # `[retention] days` must keep at least that much (monitor/config/checks.py).
    LOOKBACK: ClassVar[tuple[str, ...]] = ()

    enabled: bool = True
    # Hours before a finding that still holds is announced again, in its thread.
    realert_hours: float = Field(default=24, gt=0)

    @classmethod
    def config_defaults(cls, config: Config) -> dict[str, object]:
        """Defaults that come from elsewhere in the config (the file's own values win)."""
        return {}

    @classmethod
    def from_config(cls, config: Config, name: str) -> Self:
        return cls.model_validate({**cls.config_defaults(config), **config.detectors.get(name, {})})


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    options: type[DetectorOptions]
    load: Loader
    detect: Callable[..., list[Finding]]
    access = Access()  # it reads the store only

    @property
    def section(self) -> str:
        return f"detectors.{self.name}"

    @property
    def doc(self) -> str:
        """Its module's docstring: the rule, what it needs, and a TOML example."""
        return inspect.getdoc(sys.modules[self.detect.__module__]) or ""


DETECTORS: Registry[DetectorSpec] = Registry("detector")


def register(name: str, options: type[DetectorOptions], load: Loader) -> Callable[[F], F]:
    """Register a pure `detect(data, now, opts)` under `name`, with its options and loader."""

    def wrap(detect: F) -> F:
        DETECTORS.add(DetectorSpec(name, options, load, detect))
        return detect

    return wrap


def detectors() -> dict[str, DetectorSpec]:
    """Every registered detector, importing the package's modules so they register."""
    package = importlib.import_module("monitor.judge.detectors")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry":
            importlib.import_module(f"monitor.judge.detectors.{module.name}")
    return {spec.name: spec for spec in DETECTORS}
