"""The detector registry. The registered name is the `[detectors.<name>]` config key."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    options: type[BaseModel]
    detect: Callable[..., Any]


_REGISTRY: dict[str, DetectorSpec] = {}


def register(name: str, options: type[BaseModel]) -> Callable[[F], F]:
    """Register `detect` under `name`, with the pydantic model of its options."""

    def wrap(detect: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"detector {name} registered twice")
        _REGISTRY[name] = DetectorSpec(name, options, detect)
        return detect

    return wrap


def detectors() -> dict[str, DetectorSpec]:
    """Every registered detector, importing the package's modules so they register."""
    package = importlib.import_module("monitor.detectors")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry":
            importlib.import_module(f"monitor.detectors.{module.name}")
    return dict(_REGISTRY)


def known_detectors() -> dict[str, type[BaseModel]]:
    return {name: spec.options for name, spec in detectors().items()}
