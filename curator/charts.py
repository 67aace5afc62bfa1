"""Small, dependency-free SVG charts for the audit report.

Every builder returns a ``markupsafe.Markup`` holding one ``<svg>`` element. Every piece of text that
reaches the SVG (titles, category names, series names, step names) goes through ``markupsafe.escape``
first, so dataset strings stay inert text inside the page. Counts may all be zero and inputs may be
empty: the charts then draw an empty frame, never divide by zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, GRID = "#1e293b", "#64748b", "#e2e8f0"
# Named series keep their colour across charts; any other series takes the palette in order.
SERIES_COLOURS = {"before": "#94a3b8", "train": "#2563eb", "val": "#0d9488", "test": "#d97706"}
PALETTE = ("#2563eb", "#0d9488", "#d97706", "#7c3aed", "#db2777", "#65a30d", "#0891b2", "#94a3b8")
KEPT, DROPPED, ADDED, FLAGGED = "#3b82f6", "#dc2626", "#16a34a", "#b45309"
LEFT = 56.0  # room for the y axis labels
CHAR_W = 6.6  # rough width of one 12px character, to size label columns

__all__ = ["grouped_bars", "histogram", "flow"]


def _e(value: object) -> str:
    return str(escape(str(value)))


def _n(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _colour(name: str, index: int) -> str:
    return SERIES_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _ticks(vmax: float) -> tuple[float, list[float]]:
    """A round axis top and its ticks, about four of them; ``(1, [0])`` when everything is zero."""
    if vmax <= 0:
        return 1, [0]
    raw = vmax / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    step = max(step, 1)  # counts: no fractional ticks
    top = math.ceil(vmax / step) * step
    return top, [i * step for i in range(int(round(top / step)) + 1)]


def _svg(width: float, height: float, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" role="img" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" '
        f'style="max-width:{width:.0f}px" font-family="{FONT}" '
        f'font-size="12" fill="{INK}"><title>{_e(title)}</title>'
    )
    heading = f'<text x="0" y="16" font-size="14" font-weight="600">{_e(title)}</text>'
    return Markup(head + heading + "".join(body) + "</svg>")


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    out, x = [], 0.0
    for name, colour in items:
        label = _clip(name, 24)
        out.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{y:.1f}" fill="{MUTED}">{_e(label)}</text>'
        )
        x += 14 + len(label) * CHAR_W + 18
    return out


def _width(groups: int, n_series: int) -> float:
    """Chart width: room for every bar when there are few, capped so the page never scrolls."""
    return min(max(LEFT + groups * (n_series * 12 + 14) + 16, 720), 1040)


def _bars(
    groups: int,
    series: Mapping[str, Sequence[float]],
    title: str,
    x_labels: Callable[[float, float, float], list[str]],
    tip: Callable[[str, int, float], str],
    label_room: float,
) -> Markup:
    """Vertical bars, one group per category/bin, one bar per series; ``x_labels`` draws the x axis."""
    names = list(series)
    left, top_pad, plot_h = LEFT, 56.0, 220.0
    width = _width(groups, len(names))
    plot_w = width - left - 16
    group_w = plot_w / max(groups, 1)
    height = top_pad + plot_h + label_room
    vmax = max((max(0, v) for vals in series.values() for v in vals), default=0)
    top, ticks = _ticks(vmax)

    body = _legend([(n, _colour(n, i)) for i, n in enumerate(names)], 38)
    for t in ticks:
        y = top_pad + plot_h - t / top * plot_h
        body.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_n(t)}</text>'
        )
    pad = group_w * 0.12 if len(names) > 1 else group_w * 0.2
    bar_w = max((group_w - 2 * pad) / max(len(names), 1), 0.5)
    show_values = groups * len(names) <= 24
    for g in range(groups):
        for s, name in enumerate(names):
            value = max(0, series[name][g])
            h = value / top * plot_h
            x = left + g * group_w + pad + s * bar_w
            y = top_pad + plot_h - h
            body.append(
                f'<rect class="bar" data-series="{_e(name)}" data-index="{g}" data-value="{value}" '
                f'x="{x:.2f}" y="{y:.2f}" width="{max(bar_w - 1, 0.5):.2f}" height="{h:.2f}" '
                f'fill="{_colour(name, s)}"><title>{_e(tip(name, g, value))}</title></rect>'
            )
            if show_values and value:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                    f'font-size="10" fill="{MUTED}">{_n(value)}</text>'
                )
    base = top_pad + plot_h
    if not vmax:
        body.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top_pad + plot_h / 2:.1f}" text-anchor="middle" '
            f'fill="{MUTED}" font-style="italic">all counts are zero</text>'
        )
    body.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{base}" y2="{base}" stroke="{MUTED}"/>')
    body += x_labels(left, group_w, base)
    return _svg(width, height, title, body)


def _empty(title: str, message: str = "no data") -> Markup:
    body = [f'<text x="0" y="44" fill="{MUTED}" font-style="italic">{_e(message)}</text>']
    return _svg(560, 56, title, body)


def _check_lengths(series: Mapping[str, Sequence[float]], expected: int, what: str) -> None:
    for name, values in series.items():
        if len(values) != expected:
            raise ValueError(
                f"series {name!r}: expected {expected} values (one per {what}), got {len(values)}"
            )


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[int]], title: str) -> Markup:
    """Bars per category, one colour per series (e.g. label counts before / train / val / test)."""
    cats = [str(c) for c in categories]
    _check_lengths(series, len(cats), "category")
    if not cats or not series:
        return _empty(title)
    longest = max(len(_clip(c, 18)) for c in cats)
    group_w = (_width(len(cats), len(series)) - LEFT - 16) / len(cats)
    rotate = longest * CHAR_W > group_w - 6
    label_room = (longest * CHAR_W * 0.7 + 24) if rotate else 28

    def x_labels(left: float, gw: float, base: float) -> list[str]:
        out = []
        for i, cat in enumerate(cats):
            x, y = left + (i + 0.5) * gw, base + 16
            turn = (
                f' transform="rotate(-40 {x:.1f} {y:.1f})" text-anchor="end"'
                if rotate
                else ' text-anchor="middle"'
            )
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}"{turn}><title>{_e(cat)}</title>{_e(_clip(cat, 18))}</text>'
            )
        return out

    def tip(name: str, i: int, value: float) -> str:
        return f"{cats[i]} · {name}: {_n(value)}"

    return _bars(len(cats), series, title, x_labels, tip, label_room)


def histogram(
    edges: Sequence[float], series: Mapping[str, Sequence[int]], title: str, unit: str = ""
) -> Markup:
    """Counts per bin, series side by side within each bin; ``edges`` has one more entry than bins."""
    bins = max(len(edges) - 1, 0)
    _check_lengths(series, bins, "bin")
    if not bins or not series:
        return _empty(title)
    marks = [_edge(e) for e in edges]
    suffix = f" {unit}" if unit else ""

    def x_labels(left: float, gw: float, base: float) -> list[str]:
        every = max(1, math.ceil((max(len(m) for m in marks) * CHAR_W + 8) / gw))
        out = []
        for i, mark in enumerate(marks):
            if i % every and i != len(marks) - 1:
                continue
            x = left + i * gw
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{MUTED}"/>'
                f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" fill="{MUTED}">{_e(mark)}</text>'
            )
        if unit:
            out.append(
                f'<text x="{left + gw * bins / 2:.1f}" y="{base + 34}" text-anchor="middle" '
                f'fill="{MUTED}">{_e(unit)}</text>'
            )
        return out

    def tip(name: str, i: int, value: float) -> str:
        return f"{name}: {marks[i]}–{marks[i + 1]}{suffix}: {_n(value)}"

    return _bars(bins, series, title, x_labels, tip, 44 if unit else 28)


def _edge(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}"


def flow(steps: Sequence[Mapping]) -> Markup:
    """A horizontal funnel: one bar per stage, as long as its rows in, the dropped part in red
    and labelled with its count, rows added as a green extension."""
    title = "Rows through each stage"
    if not steps:
        return _empty(title, "no stages recorded")
    label_w, right_w, row_h, top_pad = 150.0, 230.0, 44.0, 54.0
    width = 1000.0
    bar_max = width - label_w - right_w
    scale_max = max((max(0, s.get("rows_in") or 0) + max(0, s.get("added") or 0) for s in steps), default=0)
    scale = bar_max / scale_max if scale_max else 0.0
    body = _legend([("kept", KEPT), ("dropped", DROPPED), ("added", ADDED)], 36)
    for i, step in enumerate(steps):
        name = str(step.get("name", f"step {i + 1}"))
        rows_in, dropped = max(0, step.get("rows_in") or 0), max(0, step.get("dropped") or 0)
        added, flagged = max(0, step.get("added") or 0), max(0, step.get("flagged") or 0)
        rows_out = step.get("rows_out")
        rows_out = rows_in + added - dropped if rows_out is None else rows_out
        y = top_pad + i * row_h
        drop_w = dropped * scale
        drop_w = max(drop_w, 2.0) if dropped and scale else drop_w
        kept_w = max(rows_in * scale - drop_w, 0.0)
        add_w = max(added * scale, 2.0) if added and scale else 0.0
        x0 = label_w
        body.append(
            f'<text x="{label_w - 10}" y="{y + 13}" text-anchor="end" font-weight="600">'
            f"<title>{_e(name)}</title>{_e(_clip(name, 18))}</text>"
            f'<text x="{label_w - 10}" y="{y + 28}" text-anchor="end" fill="{MUTED}">{_n(rows_in)} in</text>'
            f'<rect x="{x0}" y="{y}" width="{bar_max:.1f}" height="20" rx="3" fill="#f1f5f9"/>'
        )
        segments = (
            ("kept", kept_w, KEPT, rows_in - dropped),
            ("dropped", drop_w, DROPPED, dropped),
            ("added", add_w, ADDED, added),
        )
        x = x0
        for kind, w, colour, count in segments:
            if w <= 0:
                continue
            share = f" ({count / rows_in:.1%} of rows in)" if rows_in and kind != "kept" else ""
            body.append(
                f'<rect class="seg {kind}" x="{x:.2f}" y="{y}" width="{w:.2f}" height="20" fill="{colour}">'
                f"<title>{_e(name)}: {_n(count)} {kind}{share}</title></rect>"
            )
            x += w
        notes = [f'<tspan fill="{DROPPED}">−{_n(dropped)} dropped</tspan>'] if dropped else []
        notes += [f'<tspan fill="{ADDED}">+{_n(added)} added</tspan>'] if added else []
        notes += [f'<tspan fill="{FLAGGED}">{_n(flagged)} flagged</tspan>'] if flagged else []
        rx = label_w + bar_max + 12
        body.append(f'<text x="{rx}" y="{y + 14}" font-weight="600">{_n(rows_out)} out</text>')
        if notes:
            body.append(f'<text x="{rx}" y="{y + 30}" font-size="11">{"  · ".join(notes)}</text>')
    return _svg(width, top_pad + len(steps) * row_h, title, body)
