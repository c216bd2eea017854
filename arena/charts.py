"""Server-side SVG charts for the leaderboard page.

Pure module (standard library only, no Django): every function takes plain Python data
and returns a self-contained ``<svg>`` string meant to be inlined in a dark-themed page.
All user-provided text is escaped; the caller may mark the result safe.
"""

from __future__ import annotations

import hashlib
import html
import math
from datetime import UTC, datetime

BG, PANEL, TEXT, MUTED = "#0f1117", "#181b24", "#e8eaf0", "#9aa3b5"
ACCENT, ACCENT2, GOOD, WARN, BAD = "#6ea8fe", "#8f7dff", "#4cc38a", "#f0b44c", "#f0616d"
GRID, NEUTRAL = "#2a2f3d", "#262b38"
PALETTE = [
    ACCENT, GOOD, WARN, BAD, ACCENT2, "#4fd1c5",
    "#f783ac", "#a3e635", "#fb923c", "#38bdf8", "#c084fc", "#d6dae3",
]  # fmt: skip
DASHES = ["", "7 4", "2 3"]  # series 13+ reuse colours with a dash pattern
LABEL_CHARS = 18  # matrix / legend labels are truncated to this; full name in <title>


# --------------------------------------------------------------------------- helpers


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _trunc(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(value: object) -> float | None:
    """A finite float, or None for None/NaN/inf/garbage."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _uid(*parts: object) -> str:
    return "c" + hashlib.sha1(repr(parts).encode()).hexdigest()[:8]


def _svg(kind: str, width: float, height: float, title: str, desc: str, body: str) -> str:
    uid = _uid(kind, title, desc, body)
    w, h = math.ceil(width), math.ceil(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMidYMin meet" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" font-family="inherit" font-size="13" '
        f'style="display:block;height:auto;max-width:{w}px">'
        f'<title id="{uid}-t">{_esc(title)}</title><desc id="{uid}-d">{_esc(desc)}</desc>'
        f"{body}</svg>"
    )


def _empty(kind: str, title: str, message: str) -> str:
    body = (
        f'<rect x="0.5" y="0.5" width="479" height="79" rx="8" fill="{PANEL}" stroke="{GRID}"/>'
        f'<text x="240" y="45" text-anchor="middle" fill="{MUTED}">{_esc(message)}</text>'
    )
    return _svg(kind, 480, 80, title, message, body)


def _text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = "currentColor",
          size: float | None = None, extra: str = "") -> str:  # fmt: skip
    size_attr = f' font-size="{_f(size)}"' if size else ""
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" fill="{fill}"{size_attr}'
        f"{extra}>{s}</text>"
    )


def nice_ticks(lo: float, hi: float, count: int = 6) -> tuple[float, float, list[float]]:
    """Round tick values covering [lo, hi]: returns (axis_lo, axis_hi, ticks)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start, stop = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    ticks = [start + i * step for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def _tick_label(value: float, ticks: list[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}".replace("-", "−")


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _mix(a: str, b: str, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    ca, cb = _hex(a), _hex(b)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


def _ink(fill: str) -> str:
    """Readable text colour on top of ``fill``."""
    r, g, b = (c / 255 for c in _hex(fill))
    return BG if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else TEXT


# --------------------------------------------------------------------------- forest plot


def intervals_chart(rows: list[dict], *, title: str) -> str:
    """Horizontal forest plot: rating dot and confidence bar per model, sorted as given."""
    if not rows:
        return _empty("intervals", title, "No models listed yet")
    values = [_num(r.get(k)) for r in rows for k in ("rating", "ci_low", "ci_high")]
    finite = [v for v in values if v is not None] or [1000.0]
    lo, hi, ticks = nice_ticks(min(finite), max(finite), 6)
    width, left, right, top, row_h = 900, 250, 150, 34, 26
    x0, x1 = left, width - right
    height = top + row_h * len(rows) + 64

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    y_end = top + row_h * len(rows)
    parts = []
    for t in ticks:
        x, label = sx(t), _tick_label(t, ticks)
        parts.append(
            f'<line x1="{_f(x)}" y1="{top - 6}" x2="{_f(x)}" y2="{y_end + 4}" stroke="{GRID}"/>'
        )
        for y in (top - 12, y_end + 18):
            parts.append(_text(x, y, label, anchor="middle", fill=MUTED, size=11))
    parts.append(
        _text((x0 + x1) / 2, y_end + 38, "Elo rating · bar = 95 % interval", anchor="middle",
              fill=MUTED, size=11)
    )  # fmt: skip
    desc = [f"Ratings of {len(rows)} models with 95 % confidence intervals."]
    for i, row in enumerate(rows):
        y = top + i * row_h + row_h / 2
        name, rank = str(row.get("model", "")), row.get("rank", i + 1)
        rating, low, high = (_num(row.get(k)) for k in ("rating", "ci_low", "ci_high"))
        provisional, retired = bool(row.get("provisional")), bool(row.get("retired"))
        votes = row.get("votes") or 0
        color = MUTED if retired else ACCENT
        status = ", provisional" if provisional else ""
        status += ", retired" if retired else ""
        interval = (
            f" (95 % CI {low:.0f}–{high:.0f})" if low is not None and high is not None else ""
        )
        shown = f"{rating:.0f}" if rating is not None else "–"
        info = f"#{rank} {name}: {shown}{interval}, {votes} votes{status}"
        desc.append(info + ".")
        label = _esc(_trunc(name, 20 if retired else 30))
        if retired:
            label += f'<tspan fill="{MUTED}"> (retired)</tspan>'
        cls = "row" + (" provisional" if provisional else "") + (" retired" if retired else "")
        fade = ' opacity="0.6"' if retired else ""
        g = [f'<g class="{cls}"{fade}><title>{_esc(info)}</title>']
        if i % 2 == 0:
            g.append(
                f'<rect x="0" y="{_f(y - row_h / 2)}" width="{width}" height="{row_h}" '
                f'fill="#ffffff" fill-opacity="0.03"/>'
            )
        g.append(_text(34, y + 4.5, _esc(rank), anchor="end", fill=MUTED))
        g.append(_text(44, y + 4.5, label, fill=MUTED if retired else "currentColor"))
        if low is not None and high is not None:
            dash = ' stroke-dasharray="5 4"' if provisional else ""
            width_attr = "2" if provisional else "6"
            g.append(
                f'<line class="ci" x1="{_f(sx(low))}" y1="{_f(y)}" x2="{_f(sx(high))}" '
                f'y2="{_f(y)}" stroke="{color}" stroke-opacity="0.6" stroke-width="{width_attr}" '
                f'stroke-linecap="round"{dash}/>'
            )
        if rating is not None:
            fill = PANEL if provisional else color
            g.append(
                f'<circle class="point" cx="{_f(sx(rating))}" cy="{_f(y)}" r="5.5" '
                f'fill="{fill}" stroke="{color if provisional else PANEL}" stroke-width="2"/>'
            )
        g.append(_text(x1 + 16, y + 4.5, shown, extra=' font-weight="600"'))
        g.append(_text(x1 + 56, y + 4.5, f"{_esc(votes)} votes", fill=MUTED, size=11))
        parts.append("".join(g) + "</g>")
    ly = height - 12
    for dx, fill, stroke, label in [
        (0, ACCENT, PANEL, "stable"),
        (70, PANEL, ACCENT, "provisional (few votes, dashed interval)"),
    ]:
        parts.append(
            f'<circle cx="{x0 + dx + 6}" cy="{ly - 4}" r="5" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="2"/>' + _text(x0 + dx + 16, ly, label, fill=MUTED, size=11)
        )
    return _svg("intervals", width, height, title, " ".join(desc), "".join(parts))


# --------------------------------------------------------------------------- heat map


def _cell(values: list, i: int, j: int) -> float | None:
    try:
        return _num(values[i][j])
    except (IndexError, TypeError):
        return None


def matrix_chart(
    names: list[str],
    values: list[list[float | None]],
    *,
    title: str,
    kind: str,
    counts: list[list[int | None]] | None = None,
) -> str:
    """Heat map, rows = model, columns = opponent.

    ``kind="winrate"``: values in 0..1 (row beats column), diverging bad→neutral→good;
    optional ``counts`` (battles per pair) go into the tooltips.
    ``kind="count"``: non-negative numbers, sequential scale.
    """
    if kind not in ("winrate", "count"):
        raise ValueError(f"unknown matrix kind {kind!r}")
    n = len(names)
    if n == 0:
        return _empty("matrix", title, "No models listed yet")
    cell = max(22, min(48, 640 // n))
    fsize, char_w = min(12.0, cell * 0.42), 6.9
    short = [_trunc(name, LABEL_CHARS) for name in names]
    label_w = max(len(s) for s in short) * char_w
    left, top = label_w + 24, label_w * 0.71 + 30
    grid = n * cell
    right = max(24.0, label_w * 0.71 - cell / 2 + 12)
    width, height = left + grid + right, top + grid + 62
    vmax = max([v for i in range(n) for j in range(n) if (v := _cell(values, i, j))] or [1.0])

    def color(v: float) -> str:
        if kind == "count":
            return _mix(NEUTRAL, ACCENT, math.sqrt(max(v, 0.0) / vmax)) if v > 0 else PANEL
        return _mix(BAD, NEUTRAL, v * 2) if v < 0.5 else _mix(NEUTRAL, GOOD, (v - 0.5) * 2)

    parts = [
        _text(left - 10, top - 8, "model ↓ · opponent →", anchor="end", fill=MUTED, size=11),
    ]
    for k, (name, label) in enumerate(zip(names, short, strict=True)):
        cy, cx = top + k * cell + cell / 2, left + k * cell + cell / 2
        tip = f"<title>{_esc(name)}</title>"
        parts.append(_text(left - 8, cy + 4, f"{tip}{_esc(label)}", anchor="end", size=12))
        parts.append(
            _text(cx, top - 6, f"{tip}{_esc(label)}", size=12,
                  extra=f' transform="rotate(-45 {_f(cx)} {_f(top - 6)})"')
        )  # fmt: skip
    for i in range(n):
        for j in range(n):
            v, x, y = _cell(values, i, j), left + j * cell, top + i * cell
            a, b = _esc(names[i]), _esc(names[j])
            battles = _cell(counts, i, j) if counts is not None else None
            if v is None:
                fill, label, ink = PANEL, "–", MUTED
                tip = f"{a} vs {b}: no data" if i != j else a
            elif kind == "winrate":
                fill, pct = color(v), round(v * 100)
                label, ink = f"{pct}%" if cell >= 30 else f"{pct}", _ink(color(v))
                tip = f"{a} beats {b} {pct} % of the time"
                if battles is not None:
                    tip += f" ({battles:.0f} battle{'s' if battles != 1 else ''})"
            else:
                fill, label, ink = color(v), f"{v:.0f}", _ink(color(v))
                tip = f"{a} vs {b}: {v:.0f} battle{'s' if v != 1 else ''}"
            parts.append(
                f'<g class="cell"><title>{tip}</title><rect x="{_f(x)}" y="{_f(y)}" '
                f'width="{cell}" height="{cell}" fill="{fill}" stroke="{BG}"/>'
                + _text(x + cell / 2, y + cell / 2 + fsize * 0.36, label, anchor="middle",
                        fill=ink, size=fsize)
                + "</g>"
            )  # fmt: skip
    uid, ly = _uid(title, kind, names, values, counts), top + grid + 22
    if kind == "winrate":
        stops, ends = [(0, BAD), (50, NEUTRAL), (100, GOOD)], ("0 %", "row beats column", "100 %")
    else:
        stops, ends = [(0, NEUTRAL), (100, ACCENT)], ("0", "battles", f"{vmax:.0f}")
    parts.append(
        f'<defs><linearGradient id="{uid}-g">'
        + "".join(f'<stop offset="{o}%" stop-color="{c}"/>' for o, c in stops)
        + f'</linearGradient></defs><rect x="{_f(left)}" y="{_f(ly)}" width="{min(grid, 240)}" '
        f'height="10" rx="2" fill="url(#{uid}-g)"/>'
        + _text(left, ly + 26, ends[0], fill=MUTED, size=11)
        + _text(left + min(grid, 240) / 2, ly + 26, ends[1], anchor="middle", fill=MUTED, size=11)
        + _text(left + min(grid, 240), ly + 26, ends[2], anchor="end", fill=MUTED, size=11)
    )
    what = "how often the row model beats" if kind == "winrate" else "battles of the row model vs"
    desc = f"{n} by {n} heat map of {n} models; each cell shows {what} the column opponent."
    return _svg("matrix", width, height, title, desc, "".join(parts))


# --------------------------------------------------------------------------- history

_STEPS = [60 * m for m in (1, 5, 15, 30, 60, 180, 360, 720)] + [
    86400 * d for d in (1, 2, 7, 14, 30, 91, 182, 365)
]


def _parse_time(stamp: str) -> float | None:
    try:
        moment = datetime.fromisoformat(str(stamp).strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _time_ticks(t0: float, t1: float) -> tuple[list[float], str]:
    step = next((s for s in _STEPS if (t1 - t0) / s <= 6), _STEPS[-1])
    first = math.ceil(t0 / step) * step
    ticks = [first + k * step for k in range(int((t1 - first) // step) + 1)]
    if step >= 91 * 86400:
        fmt = "%b %Y"
    elif step >= 86400:
        fmt = (
            "%d %b"
            if len({datetime.fromtimestamp(t, UTC).year for t in ticks}) <= 1
            else "%d %b %y"
        )
    else:
        fmt = "%H:%M" if t1 - t0 < 86400 else "%d %b %H:%M"
    return ticks, fmt


def history_chart(series: dict[str, list[tuple[str, float]]], *, title: str) -> str:
    """Rating over time, one line per model (timestamps ISO 8601, naive ones taken as UTC)."""
    data: dict[str, list[tuple[float, float]]] = {}
    for name, points in series.items():
        clean = [(t, r) for s, v in points if (t := _parse_time(s)) is not None and
                 (r := _num(v)) is not None]  # fmt: skip
        if clean:
            data[str(name)] = sorted(clean)
    if not data:
        return _empty("history", title, "No history yet")
    times = [t for pts in data.values() for t, _ in pts]
    ratings = [r for pts in data.values() for _, r in pts]
    t0, t1 = min(times), max(times)
    if t1 - t0 < 60:
        t0, t1 = t0 - 3600, t1 + 3600
    lo, hi, yticks = nice_ticks(min(ratings), max(ratings), 5)
    width, left, right, top, plot_h = 900, 64, 28, 16, 300
    x0, x1, y0, y1 = left, width - right, top + plot_h, top
    cols, col_w = 3, (width - left - right) / 3
    legend_y = y0 + 62
    height = legend_y + math.ceil(len(data) / cols) * 22 + 6

    def sx(t: float) -> float:
        return x0 + (t - t0) / (t1 - t0) * (x1 - x0)

    def sy(v: float) -> float:
        return y0 - (v - lo) / (hi - lo) * (y0 - y1)

    parts = []
    for v in yticks:
        y = sy(v)
        parts.append(f'<line x1="{x0}" y1="{_f(y)}" x2="{x1}" y2="{_f(y)}" stroke="{GRID}"/>')
        parts.append(
            _text(x0 - 8, y + 4, _tick_label(v, yticks), anchor="end", fill=MUTED, size=11)
        )
    xticks, fmt = _time_ticks(t0, t1)
    for t in xticks:
        x = sx(t)
        label = datetime.fromtimestamp(t, UTC).strftime(fmt)
        parts.append(f'<line x1="{_f(x)}" y1="{y1}" x2="{_f(x)}" y2="{y0 + 4}" stroke="{GRID}"/>')
        parts.append(_text(x, y0 + 20, _esc(label), anchor="middle", fill=MUTED, size=11))
    parts.append(_text((x0 + x1) / 2, y0 + 40, "time (UTC)", anchor="middle", fill=MUTED, size=11))
    parts.append(
        _text(14, (y0 + y1) / 2, "Elo", anchor="middle", fill=MUTED, size=11,
              extra=f' transform="rotate(-90 14 {_f((y0 + y1) / 2)})"')
    )  # fmt: skip
    legend, desc = [], []
    for k, (name, pts) in enumerate(data.items()):
        color, dash = PALETTE[k % len(PALETTE)], DASHES[(k // len(PALETTE)) % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        last_t, last_r = pts[-1]
        when = datetime.fromtimestamp(last_t, UTC).strftime("%Y-%m-%d %H:%M")
        info = f"{name}: {last_r:.0f} at {when} UTC ({len(pts)} point{'s' * (len(pts) != 1)})"
        desc.append(info)
        g = [f'<g class="series"><title>{_esc(info)}</title>']
        if len(pts) > 1:
            coords = " ".join(f"{_f(sx(t))},{_f(sy(r))}" for t, r in pts)
            g.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2" '
                f'stroke-linejoin="round" stroke-linecap="round"{dash_attr}/>'
            )
        g.append(
            f'<circle cx="{_f(sx(last_t))}" cy="{_f(sy(last_r))}" r="3.5" fill="{color}" '
            f'stroke="{BG}" stroke-width="1"/>'
        )
        parts.append("".join(g) + "</g>")
        lx, ly = left + (k % cols) * col_w, legend_y + (k // cols) * 22
        legend.append(
            f'<g class="legend-item"><title>{_esc(name)}</title>'
            f'<line x1="{_f(lx)}" y1="{ly - 4}" x2="{_f(lx + 22)}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="3"{dash_attr}/>'
            + _text(lx + 30, ly, _esc(_trunc(name, 24)), size=12)
            + _text(lx + col_w - 14, ly, f"{last_r:.0f}", anchor="end", fill=MUTED, size=11)
            + "</g>"
        )  # fmt: skip
    summary = f"Rating history of {len(data)} models. Latest ratings: " + "; ".join(desc) + "."
    return _svg("history", width, height, title, summary, "".join(parts + legend))
