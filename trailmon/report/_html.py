"""Shared pieces of the self-contained, printable HTML reports.

The print CSS and the table helpers are those of the proximity report
(:mod:`trailmon.report.crime_report`), imported rather than copied, so every report prints the
same way: A4, the marking ``OFFICIAL-SENSITIVE`` as a repeated table header and footer on every
page, rows that do not split. Added here: a matplotlib figure as a PNG data URI (no files, no
network) and the page shell.
"""

from __future__ import annotations

import base64
import io

import pandas as pd

from trailmon.report.crime_report import _CSS, _e, _fmt, _kv, _table
from trailmon.report.writers import MARKING

__all__ = ["CSS", "esc", "figure_data_uri", "figure_html", "fmt", "kv", "new_figure", "page", "table"]

CSS = (
    _CSS
    + """
.chart { width: 100%; max-width: 180mm; border: 0; }
table.cal td { height: 17mm; width: 12%; font-size: 7.5pt; }
table.cal th:first-child { width: 12%; overflow-wrap: normal; }
table.cal td.out { background: #f4f4f4; color: #888; }
.st { display: inline-block; padding: 0 2px; margin: 1px 0; border: 1px solid #000; }
.st-attended { background: #cfe8cf; } .st-late, .st-left_early, .st-partial { background: #fde9b8; }
.st-not_attended { background: #f5c2c2; } .st-no_data, .st-not_monitored { background: #ddd; }
.st-breach { background: #f5c2c2; } .st-nodata { background: #ddd; }
table.defs td:first-child { white-space: nowrap; font-family: monospace; }
@media print { .chart { break-inside: avoid; } section.part { break-before: page; } }
"""
)
"""The print CSS of every report (the proximity report's, plus charts and the calendar)."""

esc = _e
fmt = _fmt
kv = _kv
table = _table


def new_figure(width_in: float = 7.0, height_in: float = 3.0):
    """A matplotlib :class:`~matplotlib.figure.Figure` without pyplot (no global state, no display).

    Parameters
    ----------
    width_in, height_in : float
        Size, inches.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def figure_data_uri(fig, *, dpi: int = 130) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default 130
        Resolution, dots per inch.

    Returns
    -------
    str
        The data URI (the page stays one self-contained file).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_html(fig, alt: str, caption: str = "") -> str:
    """An ``<img>`` (class ``chart``) holding the figure, with alt text and an optional caption."""
    cap = f"<figcaption class='note'>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img class="chart" alt="{esc(alt)}" src="{figure_data_uri(fig)}">{cap}</figure>'


def page(title: str, parts: list[str]) -> str:
    """A complete HTML document: marking in the head, repeated on every printed page, then ``parts``.

    Parameters
    ----------
    title : str
        The page title (after the marking).
    parts : list of str
        HTML fragments of the body, in order.
    """
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta name="protective-marking" content="{MARKING}">',
            f"<title>{MARKING} - {esc(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            '<table class="page"><thead><tr><td>',
            f'<header class="marking top">{MARKING}</header></td></tr></thead>',
            f'<tfoot><tr><td><footer class="marking bottom">{MARKING}</footer></td></tr></tfoot>'
            "<tbody><tr><td>",
            *parts,
            "</td></tr></tbody></table></body></html>",
        ]
    )


def local_text(ts, tz: str) -> str:
    """A timestamp in local time ``YYYY-MM-DD HH:MM`` (empty for missing)."""
    if ts is None or (not isinstance(ts, pd.Timestamp) and pd.isna(ts)) or ts is pd.NaT:
        return ""
    return pd.Timestamp(ts).tz_convert(tz).strftime("%Y-%m-%d %H:%M")
