"""The README's reference tables, derived by walking the registries (monitor/registry.py):
stages, log sources, sinks, detectors and doctor groups, each with its config section,
its options and the access it needs. tests/unit/test_registries.py fails when the README
holds anything else between the markers; `python -m monitor.outputs.reference README.md`
rewrites them."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from monitor.registry import Access

BEGIN = "<!-- reference tables: generated from the registries, do not edit -->"
END = "<!-- end of the reference tables -->"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or "-" for cell in row) + " |" for row in rows]
    return lines


def _code(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _keys(options: type[BaseModel] | None, skip: Iterable[str] = ()) -> str:
    return _code(k for k in (options.model_fields if options else {}) if k not in set(skip))


def _section(name: str | None) -> str:
    return f"`[{name}]`" if name else ""


def _iam(access: Access) -> tuple[str, str, str]:
    return _code(access.monitor), _code(access.management), _code(access.pg)


def tables() -> str:
    """The markdown between the markers."""
    from monitor.doctor.checks import groups
    from monitor.judge.detectors.registry import DetectorOptions, detectors
    from monitor.outputs.alerts.sinks import SINKS
    from monitor.sources.pglogs.ingest import LOG_SOURCES
    from monitor.stages import stage_specs

    iam = ("monitor role", "management role")
    out = ["#### Stages (`pgwarden once --only`)", ""]
    out += _table(
        ("stage", "job", "section", *iam, "database"),
        (
            (f"`{s.name}`", f"`{s.job_id}`", _section(s.section or s.toggle), *_iam(s.access))
            for s in stage_specs()
        ),
    )
    out += ["", "#### Log sources (`[pglogs] sources`)", ""]
    out += _table(
        ("source", "its keys of `[pglogs]`", *iam),
        ((f"`{s.name}`", _keys(s.options), *_iam(s.access)[:2]) for s in LOG_SOURCES),
    )
    out += ["", "#### Sinks (`[alerts.slack] mode`, `--dry-run`: console)", ""]
    out += _table(
        ("sink", "its keys of `[alerts.slack]`", "management role"),
        ((f"`{s.name}`", _keys(s.options), _code(s.access.management)) for s in SINKS),
    )
    out += ["", "#### Detectors (`[detectors.NAME]`)", ""]
    out += _table(
        ("detector", "options beside `enabled`, `realert_hours`"),
        (
            (f"`{d.name}`", _keys(d.options, DetectorOptions.model_fields))
            for _, d in sorted(detectors().items())
        ),
    )
    out += ["", "#### Doctor groups", ""]
    out += _table(
        ("group", "checks", "monitor role"),
        ((f"`{g.name}`", _code(g.checks), _code(g.iam_actions)) for g in groups()),
    )
    return "\n".join(out)


def update(readme: str) -> str:
    """The README with its reference tables regenerated."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{tables()}\n\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
