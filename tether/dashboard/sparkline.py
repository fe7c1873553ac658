"""Inline SVG sparklines, drawn on the server: a plot without a charting library or a build.

``sparkline`` is pure: numbers in, one ``<svg>`` element out (gaps for missing values), so
pages stay plain HTML and a test can read the points back.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def points(
    values: Sequence[float | None], *, width: float, height: float, pad: float = 2.0
) -> list[list[tuple[float, float]]]:
    """Runs of (x, y) for the values, split where a value is missing; y grows downwards."""
    n = len(values)
    present = [v for v in values if v is not None]
    if not present:
        return []
    top = max(present)
    bottom = min(0.0, min(present))
    span = (top - bottom) or 1.0
    step = (width - 2 * pad) / max(1, n - 1)
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(current)
            current = []
            continue
        x = pad + i * step
        y = pad + (height - 2 * pad) * (1 - (v - bottom) / span)
        current.append((round(x, 1), round(y, 1)))
    if current:
        runs.append(current)
    return runs


def sparkline(
    values: Sequence[float | None],
    *,
    width: int = 160,
    height: int = 32,
    label: str = "",
    css_class: str = "spark",
) -> str:
    """An ``<svg>`` line (with a light area under it) of ``values``, oldest first."""
    title = escape(label)
    head = (
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{title}"><title>{title}</title>'
    )
    runs = points(values, width=width, height=height)
    if not runs:
        return head + f'<text x="4" y="{height // 2 + 4}" class="spark-empty">no data</text></svg>'
    parts = [head]
    base = height - 2.0
    for run in runs:
        line = " ".join(f"{x},{y}" for x, y in run)
        if len(run) > 1:
            area = f"{run[0][0]},{base} {line} {run[-1][0]},{base}"
            parts.append(f'<polygon class="spark-area" points="{area}"/>')
            parts.append(f'<polyline class="spark-line" points="{line}"/>')
        else:
            x, y = run[0]
            parts.append(f'<circle class="spark-dot" cx="{x}" cy="{y}" r="1.5"/>')
    last = runs[-1][-1]
    parts.append(f'<circle class="spark-last" cx="{last[0]}" cy="{last[1]}" r="2"/>')
    parts.append("</svg>")
    return "".join(parts)
