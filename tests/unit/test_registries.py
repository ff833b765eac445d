"""Every plugin states its contract next to its code (STYLE rule 4)."""

from __future__ import annotations

import importlib
import re
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import Config
from monitor.judge.detectors.registry import DetectorOptions, detectors
from monitor.registry import Plugin, Registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = tomllib.loads((REPO / "config.example.toml").read_text())


def toml_example(doc: str) -> str | None:
    """The TOML example in a docstring: the indented block that starts with a `[table]`
    line (after `Example:` where there is one), dedented; None if there is none."""
    lines = doc.split("Example:", 1)[-1].splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(" ") and line.strip()[:1] == "["),
        None,
    )
    if start is None:
        return None
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


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


# Day counts that are no look-back into the store's history: a grace period after a
# reviewer's decision, which is kept whatever its age.
NOT_LOOKBACK = {("revoked-access-present", "grace_days")}


@pytest.mark.parametrize("name", sorted(detectors()))
def test_registry_detector_declares_its_look_back(name: str) -> None:
    """Every number of days a detector reads back is in its LOOKBACK, so that retention
    keeps that much history (monitor/config/checks.py retention_checks)."""
    spec = detectors()[name]
    counts = {
        key
        for key, f in spec.options.model_fields.items()
        if (key == "days" or key.endswith("_days")) and f.annotation in (int, float, "int", "float")
    }
    assert set(spec.options.LOOKBACK) <= counts
    assert counts - set(spec.options.LOOKBACK) == {k for n, k in NOT_LOOKBACK if n == name}


def test_registry_unknown_detector_lists_known() -> None:
    from monitor.config import validate
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate({"detectors": {"failure-brust": {}}})
    (problem,) = info.value.problems
    assert problem.startswith("detectors.failure-brust: unknown detector; known: ")
    assert "failure-burst" in problem and "password-login" in problem


def _registries() -> dict[str, Registry[Plugin]]:
    """Every registry, filled: each kind's modules imported."""
    from monitor.doctor.checks import GROUPS, groups
    from monitor.judge.detectors.registry import DETECTORS
    from monitor.outputs.alerts.sinks import SINKS
    from monitor.sources.pglogs.ingest import LOG_SOURCES
    from monitor.stages import STAGES

    detectors()
    groups()
    found: dict[str, Registry[Plugin]] = {}
    for registry in (DETECTORS, STAGES, GROUPS, LOG_SOURCES, SINKS):
        found[registry.kind] = registry  # type: ignore[assignment]
    return found


ENTRIES = [(kind, name) for kind, registry in _registries().items() for name in registry.names()]


def _section_model(path: str) -> type[BaseModel] | None:
    """The config model at a dotted path (`alerts.slack`), or None below a plain table."""
    model: type[BaseModel] | None = Config
    for part in path.split("."):
        field = model.model_fields.get(part) if model is not None else None
        annotation = field.annotation if field is not None else None
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_registry_entry_states_its_contract(kind: str, name: str) -> None:
    entry = _registries()[kind][name]
    assert entry.name == name and re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), "kebab-case"
    assert entry.doc, f"{kind} {name}: no docstring"
    assert all(":" in action for action in entry.access.monitor + entry.access.management)
    if kind == "log source":
        assert "IAM" in entry.doc, f"{name}: the docstring says which IAM actions it needs"
    if entry.options is None:
        return
    assert issubclass(entry.options, BaseModel)
    example = toml_example(entry.doc)
    assert example is not None and entry.section is not None, f"{name}: no TOML example"
    parsed = tomllib.loads(example)
    section = parsed
    for part in entry.section.split("."):
        section = section[part]
    own = {k: v for k, v in section.items() if k in entry.options.model_fields}
    entry.options.model_validate(own)
    parent = _section_model(entry.section)
    if parent is not None:  # what is not the entry's own is its section's
        parent.model_validate(section)


def test_registry_twice_and_unknown_names() -> None:
    from monitor.registry import Access

    @dataclass(frozen=True)
    class Entry:
        name: str
        options = None
        section = None
        doc = "x"
        access = Access()

    registry: Registry[Entry] = Registry("widget")
    registry.add(Entry("b-one"))
    registry.add(Entry("a-two"))
    with pytest.raises(ValueError, match="widget b-one registered twice"):
        registry.add(Entry("b-one"))
    with pytest.raises(ValueError, match="kebab-case"):
        registry.add(Entry("Snake_case"))
    assert registry.unknown("c", "widgets.c") == "widgets.c: unknown widget; known: a-two, b-one"
    ordered: Registry[Entry] = Registry("step", ordered=True)
    ordered.add(Entry("b-one"))
    ordered.add(Entry("a-two"))
    assert ordered.unknown("c", "--only c") == "--only c: unknown step; known: b-one, a-two"


def test_registry_unknown_log_source_lists_known() -> None:
    from monitor.config import validate
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        validate({"pglogs": {"sources": ["cloudwatch", "s3"]}})
    assert info.value.problems == [
        'pglogs.sources[1]: "s3": unknown log source;'
        " known: athena, cloudwatch, files, rds-api, rds-proxy"
    ]


README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_reference_tables_are_the_registries() -> None:
    from monitor.outputs.reference import update

    assert update(README) == README, (
        "README.md's reference tables are stale: python -m monitor.outputs.reference README.md"
    )


def _first_column(section: str, header: str) -> list[str]:
    """The first cells of the table under `header` in the README section `section`."""
    text = README.split(section, 1)[1]
    rows = text.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [row.split("|")[1].strip().strip("`") for row in rows]


def test_readme_hand_written_tables_name_every_entry() -> None:
    from monitor.doctor.checks import groups
    from monitor.scheduler import JOBS, WEEKLY_REPORT

    jobs = _first_column("#### The daemon: `pgwarden run`", "| job | stage |")
    assert jobs == [j.id for j in JOBS] + [WEEKLY_REPORT]
    findings = _first_column("## Findings: what they mean", "| finding |")
    assert sorted(findings) == sorted(detectors())
    doctor = [g for g in _first_column("## pgwarden doctor", "| group | check |") if g]
    assert doctor == [g.name for g in groups()]
