"""Every plugin states its contract next to its code (STYLE rule 4)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from monitor.judge.detectors.registry import DetectorOptions, detectors

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = tomllib.loads((REPO / "config.example.toml").read_text())


@pytest.mark.parametrize("name", sorted(detectors()))
def test_registry_detector_contract(name: str) -> None:
    spec = detectors()[name]
    assert name == name.lower() and " " not in name and "_" not in name  # kebab-case
    assert issubclass(spec.options, DetectorOptions)
    module = importlib.import_module(spec.detect.__module__)
    doc = module.__doc__ or ""
    assert doc.startswith(f"{name}: "), "the docstring starts by naming the rule"
    assert f"[detectors.{name}]" in doc, "the docstring carries a TOML example"
    assert "Needs:" in doc, "the docstring says what data the detector needs"
    own = set(spec.options.model_fields) - set(DetectorOptions.model_fields)
    for option in own:
        assert f"{option} =" in doc, f"{option} missing from the docstring example"
    documented = EXAMPLE["detectors"].get(name, {})
    assert own <= set(documented), f"config.example.toml lacks {own - set(documented)}"
    spec.options.model_validate(documented)


def test_registry_unknown_detector_lists_known() -> None:
    from monitor.config import validate
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate({"detectors": {"failure-brust": {}}})
    (problem,) = info.value.problems
    assert problem.startswith("detectors.failure-brust: unknown detector; known: ")
    assert "failure-burst" in problem and "password-login" in problem
