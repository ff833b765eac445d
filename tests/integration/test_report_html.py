"""The report page in a real browser: headless Chromium (Debian's `chromium`), offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.outputs.reports.access_review import write_report
from monitor.outputs.reports.period import iso_week
from tests.conftest import require
from tests.support import review
from tests.unit.test_access_review import context

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("html")
    world = review.build(base / "p.db")
    try:
        ctx = context(world, base)
        write_report(ctx, iso_week("2026-W47", "UTC"), formats=["html"])
    finally:
        world.close()
    yield ctx.config.reports.dir / "access-review-2026-W47.html"


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    require(exe, "chromium is not installed (Debian package chromium; make test installs it)")
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="pgwarden-chromium-") as profile:
        return subprocess.run(
            # --no-sandbox: Chromium's sandbox refuses to run as root, as tests here do.
            [exe, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--hide-scrollbars", *args],
            capture_output=True, text=True, timeout=90, check=True,
        )  # fmt: skip


def test_report_html_renders_with_charts(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    text = page.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    shot = tmp_path / "page.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,1400", page.as_uri())
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, "the screenshot is blank"
    counts = {rgb: n for n, rgb in colours}
    # Chart marks drew: pixels in the exact fill colours of the bars.
    blue, red = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)
    green, orange = (0x2C, 0xA0, 0x2C), (0xFF, 0x7F, 0x0E)
    for colour in (blue, red, green, orange):
        assert counts.get(colour, 0) > 1000, f"no chart marks in {colour}"


def test_report_html_table_sorts(page: Path) -> None:
    dom = chromium("--dump-dom", page.as_uri() + "#sort=-sessions_in_period").stdout
    assert 'data-sortable="ready"' in dom  # the script ran without an error
    assert 'aria-sort="descending"' in dom
    body = dom.split("<tbody>", 1)[1]
    users = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", body)
    assert users[0] == "app"  # the busiest first
    assert len(users) == 8
    # Without the sort, the most urgent come first: the revoke rows.
    dom = chromium("--dump-dom", page.as_uri()).stdout
    reasons = re.findall(r"<td class=\"(revoke|review|keep)\">", dom)
    assert reasons[:2] == ["revoke", "revoke"] and reasons[-1] == "keep"
