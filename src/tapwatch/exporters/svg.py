"""Small SVG plots for the inspector pages: drawn on the server, no script, no map tiles.

Every text that reaches a plot goes through `html.escape`; numbers are formatted here.
Colours are the Okabe-Ito palette (distinguishable with colour-blindness); each plot has a
<title> and <desc> so a screen reader says what it shows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_FONT = "font-family='system-ui, sans-serif' font-size='11'"


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _n(v: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def nice_step(span: float, target: int = 5) -> float:
    """A 1-2-5 step giving about `target` ticks over span."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _open(width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {_n(width)} {_n(height)}' "
        f"width='{_n(width)}' height='{_n(height)}' role='img' class='plot'>",
        f"<title>{_e(title)}</title><desc>{_e(desc)}</desc>",
        f"<rect width='{_n(width)}' height='{_n(height)}' fill='#fff'/>",
    ]


def text_width(text: str, font_px: float = 11) -> float:
    """A generous estimate of a label's width in a sans-serif font (no font metrics on
    the server): 0.62 em a character."""
    return 0.62 * font_px * len(text)


def _fmt_tick(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.2g}"


def checkin_plot(
    timeline: Sequence[dict[str, Any]],
    *,
    ring_m: float | None = None,
    ring_label: str = "",
    burst_labels: Sequence[str] = (),
    size: int = 420,
) -> str:
    """Check-ins around the burst centre in metres (east right, north up), one colour per
    burst, with an optional circle of radius ring_m (e.g. the spread limit)."""
    pts = [
        (float(t["dx_m"]), float(t["dy_m"]), int(t.get("burst", 0)))
        for t in timeline
        if t.get("dx_m") is not None and t.get("dy_m") is not None
    ]
    missing = len(timeline) - len(pts)
    reach = max([abs(c) for x, y, _ in pts for c in (x, y)] + [ring_m or 0.0, 10.0]) * 1.15
    step = nice_step(2 * reach, 4)
    reach = math.ceil(reach / step) * step
    pad_l, pad_b, pad_t, pad_r = 44, 36, 12, 12
    plot = size - pad_l - pad_r
    height = plot + pad_t + pad_b
    legend_h = 16 * len({b for _, _, b in pts}) if pts else 0
    height += legend_h

    def sx(x: float) -> float:
        return pad_l + (x + reach) / (2 * reach) * plot

    def sy(y: float) -> float:
        return pad_t + (reach - y) / (2 * reach) * plot

    desc = f"{len(pts)} check-ins plotted in metres around their median position" + (
        f"; {missing} without a position" if missing else ""
    )
    out = _open(size, height, "Check-in positions around the point (metres)", desc)
    out.append(f"<g {_FONT} fill='#444'>")
    v = -reach
    while v <= reach + 1e-9:
        x, y = sx(v), sy(v)
        out.append(
            f"<line x1='{_n(x)}' y1='{pad_t}' x2='{_n(x)}' y2='{_n(pad_t + plot)}' "
            "stroke='#e4e4e4'/>"
            f"<line x1='{pad_l}' y1='{_n(y)}' x2='{_n(pad_l + plot)}' y2='{_n(y)}' "
            "stroke='#e4e4e4'/>"
            f"<text x='{_n(x)}' y='{_n(pad_t + plot + 14)}' text-anchor='middle'>"
            f"{_fmt_tick(v)}</text>"
            f"<text x='{pad_l - 4}' y='{_n(y + 4)}' text-anchor='end'>{_fmt_tick(v)}</text>"
        )
        v += step
    out.append(
        f"<text x='{_n(pad_l + plot / 2)}' y='{_n(pad_t + plot + 30)}' "
        "text-anchor='middle'>metres east of centre</text>"
        f"<text transform='translate(11 {_n(pad_t + plot / 2)}) rotate(-90)' "
        "text-anchor='middle'>metres north</text></g>"
    )
    out.append(
        f"<rect x='{pad_l}' y='{pad_t}' width='{plot}' height='{plot}' fill='none' stroke='#999'/>"
    )
    cx, cy = sx(0), sy(0)
    if ring_m:
        r = ring_m / (2 * reach) * plot
        out.append(
            f"<circle cx='{_n(cx)}' cy='{_n(cy)}' r='{_n(r)}' fill='none' stroke='#777' "
            "stroke-dasharray='4 3'/>"
        )
        if ring_label:
            # beside the ring's upper right, kept inside the plot: right-aligned to the
            # plot's edge when it would run past it (it was cut off at the SVG's edge)
            x, y = cx + r * 0.72 + 3, max(pad_t + 12, cy - r * 0.72 - 3)
            anchor = "start"
            if x + text_width(ring_label) > pad_l + plot - 4:
                x, anchor = pad_l + plot - 4, "end"
            out.append(
                f"<text {_FONT} x='{_n(x)}' y='{_n(y)}' text-anchor='{anchor}' fill='#555' "
                f"stroke='#fff' stroke-width='3' paint-order='stroke'>{_e(ring_label)}</text>"
            )
    out.append(f"<path d='M{_n(cx - 5)} {_n(cy)}h10M{_n(cx)} {_n(cy - 5)}v10' stroke='#333'/>")
    for x, y, b in pts:
        out.append(
            f"<circle cx='{_n(sx(x))}' cy='{_n(sy(y))}' r='3.5' fill='{PALETTE[b % 7]}' "
            "fill-opacity='0.75' stroke='#fff' stroke-width='0.5'/>"
        )
    ly = pad_t + plot + pad_b
    for i, b in enumerate(sorted({b for _, _, b in pts})):
        label = burst_labels[b] if b < len(burst_labels) else f"burst {b + 1}"
        out.append(
            f"<circle cx='{pad_l + 6}' cy='{ly + 16 * i + 6}' r='5' fill='{PALETTE[b % 7]}'/>"
            f"<text {_FONT} x='{pad_l + 16}' y='{ly + 16 * i + 10}'>{_e(label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def arrivals_plot(
    timeline: Sequence[dict[str, Any]],
    *,
    label: Callable[[str], str] = lambda a: a[:8],
    burst_labels: Sequence[str] = (),
    width: int = 640,
) -> str:
    """One row per account, one dot per arrival at seconds since its burst's first
    check-in, coloured by burst: the same accounts arriving in the same order, seconds
    apart, day after day, is one person going from phone to phone."""
    starts: dict[int, float] = {}
    for t in timeline:
        b = int(t.get("burst", 0))
        starts[b] = min(starts.get(b, math.inf), float(t["ts"]))
    order: list[str] = []
    for t in sorted(timeline, key=lambda t: (int(t.get("burst", 0)), float(t["ts"]))):
        if t["account"] not in order:
            order.append(t["account"])
    span = max([float(t["ts"]) - starts[int(t.get("burst", 0))] for t in timeline] + [10.0])
    step = nice_step(span, 6)
    span = math.ceil(span / step) * step
    pad_l, pad_r, pad_t, row = 78, 16, 12, 16
    plot_w = width - pad_l - pad_r
    plot_h = max(1, len(order)) * row
    legend = sorted(starts)
    height = pad_t + plot_h + 34 + 16 * len(legend)
    desc = f"{len(timeline)} arrivals of {len(order)} accounts in {len(starts)} bursts"
    out = _open(width, height, "Arrivals per account (seconds after the burst began)", desc)

    def sx(s: float) -> float:
        return pad_l + s / span * plot_w

    out.append(f"<g {_FONT} fill='#444'>")
    v = 0.0
    while v <= span + 1e-9:
        x = sx(v)
        out.append(
            f"<line x1='{_n(x)}' y1='{pad_t}' x2='{_n(x)}' y2='{pad_t + plot_h}' "
            "stroke='#e4e4e4'/>"
            f"<text x='{_n(x)}' y='{pad_t + plot_h + 14}' text-anchor='middle'>"
            f"{_fmt_tick(v)} s</text>"
        )
        v += step
    for i, acc in enumerate(order):
        y = pad_t + i * row + row / 2
        out.append(
            f"<text x='{pad_l - 6}' y='{_n(y + 4)}' text-anchor='end' "
            f"font-family='ui-monospace, monospace'>{_e(label(acc))}</text>"
            f"<line x1='{pad_l}' y1='{_n(y)}' x2='{pad_l + plot_w}' y2='{_n(y)}' "
            "stroke='#f2f2f2'/>"
        )
    out.append("</g>")
    rows = {a: i for i, a in enumerate(order)}
    for t in timeline:
        b = int(t.get("burst", 0))
        x = sx(float(t["ts"]) - starts[b])
        y = pad_t + rows[t["account"]] * row + row / 2
        out.append(
            f"<circle cx='{_n(x)}' cy='{_n(y)}' r='4' fill='{PALETTE[b % 7]}' fill-opacity='0.8'/>"
        )
    ly = pad_t + plot_h + 26
    for i, b in enumerate(legend):
        text = burst_labels[b] if b < len(burst_labels) else f"burst {b + 1}"
        out.append(
            f"<circle cx='{pad_l + 6}' cy='{ly + 16 * i + 6}' r='5' fill='{PALETTE[b % 7]}'/>"
            f"<text {_FONT} x='{pad_l + 16}' y='{ly + 16 * i + 10}'>{_e(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _value_axes(
    out: list[str],
    *,
    pad_l: float,
    pad_t: float,
    pw: float,
    ph: float,
    top: float,
    step: float,
    labels: Sequence[str],
    max_labels: int,
    unit: str,
) -> None:
    """Gridlines and ticks of the value axis, every few category labels below the plot
    (each centred on its slot), and the unit along the left edge."""
    v = 0.0
    while v <= top + 1e-9:
        y = pad_t + ph - v / top * ph
        out.append(
            f"<line x1='{pad_l}' y1='{_n(y)}' x2='{pad_l + pw}' y2='{_n(y)}' stroke='#e4e4e4'/>"
            f"<text x='{pad_l - 4}' y='{_n(y + 4)}' text-anchor='end'>{_fmt_tick(v)}</text>"
        )
        v += step
    slot = pw / max(len(labels), 1)
    every = max(1, math.ceil(len(labels) / max_labels))
    for i, lab in enumerate(labels):
        if i % every == 0:
            out.append(
                f"<text x='{_n(pad_l + (i + 0.5) * slot)}' y='{pad_t + ph + 14}' "
                f"text-anchor='middle'>{_e(lab)}</text>"
            )
    if unit:
        out.append(
            f"<text transform='translate(11 {_n(pad_t + ph / 2)}) rotate(-90)' "
            f"text-anchor='middle'>{_e(unit)}</text>"
        )


def bar_chart(
    values: Sequence[float],
    labels: Sequence[str],
    *,
    title: str,
    unit: str = "",
    highlight: set[int] | frozenset[int] = frozenset(),
    width: int = 640,
    height: int = 220,
) -> str:
    """Vertical bars (e.g. submissions per hour of day); highlighted bars are darker."""
    n = len(values)
    top = max([float(v) for v in values] + [1.0])
    step = nice_step(top, 4)
    top = math.ceil(top / step) * step
    pad_l, pad_r, pad_t, pad_b = 48, 10, 12, 30
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    bw = pw / max(n, 1)
    desc = ", ".join(f"{lab}: {v:g}" for lab, v in zip(labels, values, strict=True))
    out = _open(width, height, title, desc)
    out.append(f"<g {_FONT} fill='#444'>")
    _value_axes(
        out, pad_l=pad_l, pad_t=pad_t, pw=pw, ph=ph, top=top, step=step, labels=labels,
        max_labels=16, unit=unit,
    )
    out.append("</g>")
    for i, val in enumerate(values):
        h = float(val) / top * ph
        colour = PALETTE[1] if i in highlight else PALETTE[0]
        out.append(
            f"<rect x='{_n(pad_l + i * bw + bw * 0.1)}' y='{_n(pad_t + ph - h)}' "
            f"width='{_n(bw * 0.8)}' height='{_n(h)}' fill='{colour}'>"
            f"<title>{_e(labels[i])}: {float(val):g}</title></rect>"
        )
    out.append("</svg>")
    return "".join(out)


def paired_bars(
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    *,
    names: tuple[str, str],
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 240,
) -> str:
    """Two bars per label (e.g. credited study time against wall-clock time per day)."""
    n = len(labels)
    top = max([float(v) for v in (*first, *second)] + [1.0])
    step = nice_step(top, 4)
    top = math.ceil(top / step) * step
    pad_l, pad_r, pad_t, pad_b = 52, 10, 26, 30
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    gw = pw / max(n, 1)
    desc = "; ".join(
        f"{lab}: {names[0]} {a:g}, {names[1]} {b:g}"
        for lab, a, b in zip(labels, first, second, strict=True)
    )
    out = _open(width, height, title, desc)
    out.append(f"<g {_FONT} fill='#444'>")
    _value_axes(
        out, pad_l=pad_l, pad_t=pad_t, pw=pw, ph=ph, top=top, step=step, labels=labels,
        max_labels=10, unit=unit,
    )
    for k, name in enumerate(names):
        x = pad_l + k * 170
        out.append(
            f"<rect x='{x}' y='6' width='10' height='10' fill='{PALETTE[k]}'/>"
            f"<text x='{x + 14}' y='15'>{_e(name)}</text>"
        )
    out.append("</g>")
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        for k, val in enumerate((a, b)):
            h = float(val) / top * ph
            out.append(
                f"<rect x='{_n(pad_l + i * gw + gw * (0.1 + 0.4 * k))}' "
                f"y='{_n(pad_t + ph - h)}' width='{_n(gw * 0.4)}' height='{_n(h)}' "
                f"fill='{PALETTE[k]}'><title>{_e(labels[i])} {_e(names[k])}: "
                f"{float(val):g}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def score_bars(rows: Sequence[tuple[str, float, float]], *, width: int = 520) -> str:
    """Points earned out of the weight of each signal: (name, points, weight)."""
    pad_l, pad_r, row = 120, 70, 22
    height = 12 + row * len(rows) + 8
    top = max([w for _, _, w in rows] + [1.0])
    pw = width - pad_l - pad_r
    desc = "; ".join(f"{name}: {p:g} of {w:g} points" for name, p, w in rows)
    out = _open(width, height, "Shutdown score: points per signal", desc)
    for i, (name, points, weight) in enumerate(rows):
        y = 12 + i * row
        out.append(
            f"<text {_FONT} x='{pad_l - 6}' y='{y + 13}' text-anchor='end'>{_e(name)}</text>"
            f"<rect x='{pad_l}' y='{y + 3}' width='{_n(weight / top * pw)}' height='12' "
            "fill='#eee' stroke='#ccc'/>"
            f"<rect x='{pad_l}' y='{y + 3}' width='{_n(points / top * pw)}' height='12' "
            f"fill='{PALETTE[1]}'/>"
            f"<text {_FONT} x='{_n(pad_l + weight / top * pw + 6)}' y='{y + 13}'>"
            f"{points:.1f} / {weight:g}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 220,
) -> str:
    """Lines over labelled points (e.g. meaningful actions per week)."""
    n = len(labels)
    top = max([float(v) for _, vals in series for v in vals] + [1.0])
    step = nice_step(top, 4)
    top = math.ceil(top / step) * step
    pad_l, pad_r, pad_t, pad_b = 52, 10, 26, 30
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(i: int) -> float:
        return pad_l + (i + 0.5) * pw / max(n, 1)

    def sy(v: float) -> float:
        return pad_t + ph - v / top * ph

    desc = "; ".join(
        f"{name}: " + ", ".join(f"{lab} {v:g}" for lab, v in zip(labels, vals, strict=True))
        for name, vals in series
    )
    out = _open(width, height, title, desc)
    out.append(f"<g {_FONT} fill='#444'>")
    _value_axes(
        out, pad_l=pad_l, pad_t=pad_t, pw=pw, ph=ph, top=top, step=step, labels=labels,
        max_labels=8, unit=unit,
    )
    for k, (name, _) in enumerate(series):
        x = pad_l + k * 200
        out.append(
            f"<rect x='{x}' y='6' width='10' height='10' fill='{PALETTE[k % 7]}'/>"
            f"<text x='{x + 14}' y='15'>{_e(name)}</text>"
        )
    out.append("</g>")
    for k, (_, vals) in enumerate(series):
        pts = " ".join(f"{_n(sx(i))},{_n(sy(float(v)))}" for i, v in enumerate(vals))
        out.append(
            f"<polyline points='{pts}' fill='none' stroke='{PALETTE[k % 7]}' stroke-width='2'/>"
        )
    out.append("</svg>")
    return "".join(out)
