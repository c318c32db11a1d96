"""The dashboard's small charts: inline SVG polylines drawn on the server (no script, no library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from kinbase.core.metrics import MinuteFigures

__all__ = ["Chart", "dashboard_charts", "sparkline"]

WIDTH, HEIGHT, PAD = 360, 90, 4


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    latest: str
    svg: str


def sparkline(values: Sequence[float | None], label: str, colour: str = "#0b5cad") -> str:
    """An SVG line of ``values`` (None: no data that minute), scaled to its maximum."""
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        x = PAD + i * step
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top
        segments[-1].append(f"{x:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>'
        for points in segments
        if points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafbfc" stroke="#e1e4e8"/>'
        f'<text x="{WIDTH - PAD}" y="12" font-size="10" text-anchor="end" fill="#57606a">'
        f"max {_num(top)}</text>"
        f"{lines}</svg>"
    )


def _num(value: float) -> str:
    return f"{value:.3g}"


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value * 1000:.1f} ms"


def dashboard_charts(minutes: Sequence[MinuteFigures]) -> list[Chart]:
    """Requests/s, p50, p99 and errors per minute over ``minutes``."""
    rate = [m.per_second for m in minutes]
    p50 = [None if m.p50 is None else m.p50 * 1000 for m in minutes]
    p99 = [None if m.p99 is None else m.p99 * 1000 for m in minutes]
    errors = [float(m.errors) for m in minutes]
    last = minutes[-1] if minutes else None
    return [
        Chart("Requests/s", _num(last.per_second) if last else "0", sparkline(rate, "requests per second")),
        Chart("p50 latency", _ms(last.p50 if last else None), sparkline(p50, "p50 latency in ms")),
        Chart("p99 latency", _ms(last.p99 if last else None), sparkline(p99, "p99 latency in ms", "#b54708")),
        Chart(
            "Errors (5xx) per minute", str(last.errors if last else 0), sparkline(errors, "errors", "#b42318")
        ),
    ]
