"""Charts as server-rendered SVG: no script, no chart library, nothing inline but attributes.

Colours come from the console's stylesheet by class (``s-<STATE>``,
``bar``), so the CSP needs no inline style. Every chart has a title and a
text description for screen readers, and each bar a ``<title>`` with its
value. Only counts and dates are drawn: nothing personal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 220  # the viewBox; the stylesheet scales it to the column
LEFT, BOTTOM, TOP = 36, 28, 12  # room for the axis labels
LEGEND_H = 40  # two rows of legend under a stacked chart


def _frame(title: str, description: str, body: list[str], legend: list[str]) -> Markup:
    label = escape(title)
    # Every text drawn is escaped above or here; the rest is numbers and fixed class names.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + LEGEND_H * bool(legend)}" role="img" '
        f'aria-label="{label}"><title>{label}</title><desc>{escape(description)}</desc>'
        + "".join(body) + "".join(legend) + "</svg>"
    )


def _axes(days: Sequence[date], top: int) -> tuple[list[str], float]:
    plot_w = WIDTH - LEFT - 8
    step = plot_w / max(1, len(days))
    out = [f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - 8}" '
           f'y2="{HEIGHT - BOTTOM}"/>',
           f'<text x="4" y="{TOP + 8}">{top}</text>',
           f'<text x="4" y="{HEIGHT - BOTTOM}">0</text>']
    for i, day in enumerate(days):
        if i % 2 == 0 or len(days) <= 8:
            out.append(f'<text x="{LEFT + i * step + 2:.1f}" y="{HEIGHT - BOTTOM + 16}">'
                       f'{day.strftime("%d.%m")}</text>')
    return out, step


def bars(title: str, days: Sequence[date], values: Sequence[int]) -> Markup:
    """One bar per day (reunions per day)."""
    top = max([1, *values])
    body, step = _axes(days, top)
    plot_h = HEIGHT - BOTTOM - TOP
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        h = plot_h * value / top
        body.append(
            f'<rect class="bar" x="{LEFT + i * step + 2:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" '
            f'width="{max(1.0, step - 4):.1f}" height="{h:.1f}"><title>{day.isoformat()}: '
            f"{value}</title></rect>"
        )
    description = "; ".join(f"{d.isoformat()}: {v}" for d, v in zip(days, values, strict=True))
    return _frame(title, description, body, [])


def stacked(
    title: str, days: Sequence[date], series: Sequence[Mapping[str, int]], names: Sequence[str],
    labels: Mapping[str, str],
) -> Markup:
    """Per day, one bar stacked by state (cases per state over time)."""
    top = max([1, *(sum(s.values()) for s in series)])
    body, step = _axes(days, top)
    plot_h = HEIGHT - BOTTOM - TOP
    for i, (day, counts) in enumerate(zip(days, series, strict=True)):
        y = float(HEIGHT - BOTTOM)
        for name in names:
            value = counts.get(name, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            body.append(
                f'<rect class="s-{escape(name)}" x="{LEFT + i * step + 2:.1f}" y="{y:.1f}" '
                f'width="{max(1.0, step - 4):.1f}" height="{h:.1f}"><title>{day.isoformat()} '
                f"{escape(labels.get(name, name))}: {value}</title></rect>"
            )
    legend = []
    x, row = LEFT, 0
    for name in names:
        width = 13 + 7 * len(labels.get(name, name)) + 12
        if x + width > WIDTH:
            x, row = LEFT, row + 1
        y = HEIGHT + 4 + 18 * row
        legend.append(f'<rect class="s-{escape(name)}" x="{x}" y="{y}" width="10" '
                      f'height="10"/><text x="{x + 13}" y="{y + 9}">'
                      f"{escape(labels.get(name, name))}</text>")
        x += width
    last = series[-1] if series else {}
    description = ", ".join(f"{labels.get(n, n)} {last.get(n, 0)}" for n in names)
    return _frame(title, description, body, legend)
