"""Store checks: the SQLite file is writable with room to grow, mode 0600, and its schema is
up to date.

Nothing here creates or migrates the store: the doctor only looks.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.errors import StoreError
from monitor.store.sqlite import (
    NotAStore,
    check_store_path,
    file_schema_version,
    free_bytes,
    migrations,
)

CHECKS = ("writable", "space", "mode", "schema")


@group("store", CHECKS)
def check_store(ctx: DoctorContext) -> None:
    path = ctx.config.store.path
    subject = "[store]"
    ctx.attempt("store", subject, "writable", lambda: writable(path))
    if path.parent.is_dir():
        floor = ctx.config.store.min_free_mb
        ctx.attempt("store", subject, "space", lambda: space(path, floor))
    if not path.exists():
        for check in CHECKS[2:]:
            ctx.record("store", subject, check, ok("no store yet: pgwarden once creates it"))
        return
    ctx.attempt("store", subject, "mode", lambda: mode(path))
    ctx.attempt("store", subject, "schema", lambda: schema(path))


def writable(path: Path) -> Outcome:
    parent = shlex.quote(str(path.parent))
    if not path.exists():
        try:
            check_store_path(path)
        except StoreError as exc:
            fix = (
                f"mkdir -p {parent}"
                if not path.parent.is_dir()
                else f"sudo chown $(id -un) {parent}"
            )
            return fail(str(exc), fix)
        return ok(f"no store yet; {path.parent} is writable")
    if not os.access(path, os.R_OK | os.W_OK):
        return fail(
            f"{path} is not writable by this user",
            f"sudo chown $(id -un) {shlex.quote(str(path))}",
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        # WAL mode writes <store>-wal and -shm beside the file.
        return fail(
            f"directory {path.parent} is not writable: SQLite needs it for the -wal file",
            f"sudo chown $(id -un) {parent}",
        )
    return ok(f"{path} is writable")


def space(path: Path, floor_mb: int) -> Outcome:
    """A full volume stops every write: warn while there is still time to act."""
    free_mb = free_bytes(path) // (1 << 20)
    where = path.resolve().parent
    if free_mb < floor_mb:
        return warn(
            f"{free_mb} MB free on the volume of {where}, below [store] min_free_mb = "
            f"{floor_mb}: when it is full, every job fails until space returns",
            f"free space on that volume, or move [store].path to a larger one: "
            f"df -h {shlex.quote(str(where))}",
        )
    return ok(f"{free_mb} MB free on the volume of {where}")


def mode(path: Path) -> Outcome:
    loose = []
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            bits = stat.S_IMODE(candidate.stat().st_mode)
            if bits & 0o077:
                loose.append((candidate, bits))
    if not loose:
        return ok(f"{path.name} is 0600")
    found = ", ".join(f"{p.name} is {bits:04o}" for p, bits in loose)
    files = " ".join(shlex.quote(str(p)) for p, _ in loose)
    return fail(f"{found}: other users can read sessions and findings", f"chmod 600 {files}")


def schema(path: Path) -> Outcome:
    latest = migrations()[-1][0]
    try:
        version = file_schema_version(path)
    except NotAStore as exc:
        return fail(f"not a pgwarden store: {exc.reason}", "point [store] path at another file")
    if version < latest:
        return fail(
            f"schema version {version}, this pgwarden needs {latest}",
            "pgwarden once",
        )
    if version > latest:
        return fail(
            f"schema version {version} is newer than this pgwarden knows ({latest})",
            "pip install --upgrade pgwarden",
        )
    return ok(f"schema version {version} (latest)")
