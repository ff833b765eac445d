"""Inline SVG charts for the report page. Pure: data in, SVG text out.

Drawn in Python so the page needs no script library and no network: it opens offline and
prints. Each bar is a `<rect class="mark">` with a `<title>` tooltip; every label goes
through `inert(value, "html")` (target and user names are chosen by whoever creates them).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.outputs.formats import inert

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 48
PALETTE = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#aec7e8",
)  # fmt: skip


def _frame(inner: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{inert(label, "html")}" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"{inner}</svg>"
    )


def _axis(top: int) -> str:
    """The y axis with its maximum, and the baseline."""
    base = HEIGHT - BOTTOM
    return (
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#888"/>'
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#888"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" font-size="11">{top}</text>'
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end" font-size="11">0</text>'
    )


def _empty(label: str) -> str:
    return _frame(
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="14" '
        f'fill="#666">no data in this period</text>',
        label,
    )


def stacked_columns(
    label: str,
    columns: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    colors: Sequence[str] = PALETTE,
) -> str:
    """One column per x value (a day), stacked by series (a target); a legend underneath."""
    totals = [sum(values[i] for _, values in series) for i in range(len(columns))]
    top = max(totals, default=0)
    if not top:
        return _empty(label)
    plot_h = HEIGHT - TOP - BOTTOM - 16
    step = (WIDTH - LEFT - RIGHT) / max(len(columns), 1)
    parts = [_axis(top)]
    for i, column in enumerate(columns):
        x = LEFT + i * step + step * 0.15
        y = HEIGHT - BOTTOM - 16.0
        for n, (name, values) in enumerate(series):
            if not values[i]:
                continue
            h = values[i] / top * plot_h
            y -= h
            parts.append(
                f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{colors[n % len(colors)]}"><title>'
                f"{inert(name, 'html')} {inert(column, 'html')}: {values[i]}</title></rect>"
            )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - BOTTOM - 2}" text-anchor="middle" '
            f'font-size="11">{inert(column[5:], "html")}</text>'
        )
    legend_x = float(LEFT)
    for n, (name, _) in enumerate(series):
        short = name if len(name) <= 18 else name[:17] + "…"
        parts.append(
            f'<rect x="{legend_x:.0f}" y="{HEIGHT - 30}" width="10" height="10" '
            f'fill="{colors[n % len(colors)]}"/><text x="{legend_x + 14:.0f}" '
            f'y="{HEIGHT - 21}" font-size="11">{inert(short, "html")}</text>'
        )
        legend_x += 14 + 7 * len(short) + 12
        if legend_x > WIDTH - 80:
            break
    return _frame("".join(parts), label)


def columns(label: str, items: Sequence[tuple[str, int]], color: str = PALETTE[0]) -> str:
    """One column per item, labelled underneath."""
    return stacked_columns(label, [k for k, _ in items], [(label, [v for _, v in items])], [color])


def bars(label: str, items: Sequence[tuple[str, int]], colors: Sequence[str] = ()) -> str:
    """Horizontal bars, largest first as given, with the label and the value."""
    top = max((v for _, v in items), default=0)
    if not top:
        return _empty(label)
    row_h = (HEIGHT - TOP - 8) / max(len(items), 1)
    label_w = 200
    span = WIDTH - label_w - 60
    parts = []
    for i, (name, value) in enumerate(items):
        y = TOP + i * row_h
        w = max(value / top * span, 1.0) if value else 0.0
        color = colors[i % len(colors)] if colors else PALETTE[0]
        short = name if len(name) <= 30 else name[:29] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end" '
            f'font-size="11">{inert(short, "html")}</text>'
            f'<rect class="mark" x="{label_w}" y="{y + row_h * 0.15:.1f}" width="{w:.1f}" '
            f'height="{row_h * 0.7:.1f}" fill="{color}"><title>{inert(name, "html")}: {value}'
            f"</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + row_h * 0.65:.1f}" font-size="11">'
            f"{value}</text>"
        )
    return _frame("".join(parts), label)
