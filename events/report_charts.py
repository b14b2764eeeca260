"""Server-drawn SVG charts for the report pages (no JavaScript, no CDN).

Each chart is an <svg role="img"> with a <title>; every value is also printed as text next to
its bar, and the page shows the same numbers in a table, so the charts never carry information
on their own (WCAG 1.1.1, 1.4.1). Colours have at least 3:1 contrast against white.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#00549f", "#0b6b2e", "#a4001d", "#7a4a00", "#5b2a86", "#1b1b1b", "#005f6b"]
TZ = ZoneInfo("Europe/Amsterdam")


def bar_chart(items: list[tuple[str, float]], *, title: str, unit: str = "", width: int = 440,
              colors: list[str] | None = None) -> SafeString:
    """Horizontal bars: one row per (label, value)."""
    colors = colors or PALETTE
    label_w, value_w, row_h, gap = 180, 50, 24, 8
    bar_w = width - label_w - value_w
    top = max((v for _l, v in items), default=0) or 1
    height = len(items) * (row_h + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(items):
        y = gap + i * (row_h + gap)
        w = 0 if not value else max(2, round(bar_w * value / top))
        color = colors[i % len(colors)]
        shown = f"{value:g}{unit}"
        parts.append(f'<text x="{label_w - 8}" y="{y + row_h * 0.7:.1f}" text-anchor="end" '
                     f'font-size="14" fill="#1b1b1b">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{row_h}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + row_h * 0.7:.1f}" font-size="14" '
                     f'fill="#1b1b1b">{escape(shown)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def timeline_chart(times: list[dt.datetime], *, start: dt.datetime, end: dt.datetime, title: str,
                   bucket_minutes: int = 15, width: int = 440, height: int = 170) -> SafeString:
    """Arrivals per time bucket as columns, with the hours on the x axis."""
    start = start.astimezone(TZ)
    end = end.astimezone(TZ)
    if times:
        start = min(start, min(times).astimezone(TZ))
        end = max(end, max(times).astimezone(TZ))
    step = dt.timedelta(minutes=bucket_minutes)
    n = max(1, min(200, int((end - start) / step) + 1))
    counts = [0] * n
    for t in times:
        i = int((t.astimezone(TZ) - start) / step)
        counts[min(max(i, 0), n - 1)] += 1
    left, bottom, top_pad = 36, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    peak = max(counts) or 1
    col_w = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" stroke="#4a4a4a"/>',
             f'<text x="{left - 6}" y="{top_pad + 12}" text-anchor="end" font-size="12" fill="#1b1b1b">{peak}</text>',
             f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" font-size="12" fill="#1b1b1b">0</text>']
    for i, c in enumerate(counts):
        if c:
            h = plot_h * c / peak
            parts.append(f'<rect x="{left + i * col_w + 1:.1f}" y="{top_pad + plot_h - h:.1f}" '
                         f'width="{max(col_w - 2, 1):.1f}" height="{h:.1f}" fill="#00549f"/>')
    label_every = max(1, round(60 / bucket_minutes)) * max(1, n // 12 // max(1, round(60 / bucket_minutes)) or 1)
    for i in range(0, n, label_every):
        t = start + i * step
        parts.append(f'<text x="{left + i * col_w:.1f}" y="{height - 6}" font-size="12" '
                     f'fill="#1b1b1b">{t:%H:%M}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
