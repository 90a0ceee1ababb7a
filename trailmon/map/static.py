"""The crime map as a static PNG for printed packs (matplotlib, no tiles, no network).

Drawn in the store's projected CRS (metres, equal aspect) with a scale bar, so distances on
paper are true; the content is the interactive crime map's: the scene circle, each hit
subject's track within the window (styled by gap), the fixes and the labelled evidence points.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.crs import StoreCRS
from trailmon.errors import InputError
from trailmon.map import _layers as L
from trailmon.trail import DEFAULT_MAX_GAP_S, Trails

__all__ = ["map_key_png", "static_map_png"]

_MPL_DASH = {0: "-", 1: (0, (6, 4)), 2: (0, (1, 4))}


def static_map_png(
    trails: Trails,
    crime_row,
    hits: pd.DataFrame,
    evidence: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    t_from=None,
    t_to=None,
    crs: StoreCRS | None = None,
    path: str | Path | None = None,
    size_in: tuple[float, float] = (8.0, 7.0),
    dpi: int = 150,
    basemap=None,
) -> bytes:
    r"""Render one crime's proximity map as a PNG.

    Parameters
    ----------
    trails : Trails
        Fixes (store metres, seconds UTC) with monitoring windows, covering the window.
    crime_row : pandas.Series or dict
        One crime (``CRIME_INPUT``): ``crime_ref``, ``x_m, y_m`` (store metres), ``committed_from,
        committed_to`` (tz-aware), optional ``radius_m`` (metres).
    hits, evidence : DataFrame
        Hit (``HITS``) and evidence (``EVIDENCE``) rows; this crime's are drawn.
    radius_m : float, default 100.0
        Radius when the crime has none of its own, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    t_from, t_to : datetime-like, optional
        Period of track drawn (tz-aware); the crime window when omitted.
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted); axes are in its metres.
    path : str or Path, optional
        Also write the PNG there.
    size_in : tuple of float, default (8.0, 7.0)
        Figure size, inches.
    dpi : int, default 150
        Resolution, dots per inch.
    basemap : BaseMap, optional
        An offline vector base map (:func:`trailmon.map.basemap.read_basemap`) drawn beneath
        everything; none by default.

    Returns
    -------
    bytes
        The PNG file's bytes.

    Raises
    ------
    InputError
        For a crime row or frame lacking columns, or a bad radius, size or resolution.

    Examples
    --------
    >>> import pandas as pd
    >>> from trailmon.match.proximity import proximity
    >>> from trailmon.testing import make_trail
    >>> tr = make_trail([(0, 529700.0, 180030.0), (60, 530300.0, 180030.0)])
    >>> t = pd.to_datetime([0, 60], unit="s", utc=True)
    >>> crimes = pd.DataFrame({"crime_ref": ["K1"], "x_m": [530000.0], "y_m": [180000.0],
    ...                        "committed_from": t[:1], "committed_to": t[1:]})
    >>> res = proximity(tr, crimes)
    >>> static_map_png(tr, crimes.iloc[0], res.hits, res.evidence)[:4]
    b'\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    from trailmon.map._draw import MARKING
    from trailmon.map.crime import crime_hits

    if not (isinstance(dpi, int) and 20 <= dpi <= 600):
        raise InputError(f"dpi must be an integer from 20 to 600, got {dpi!r}")
    if len(size_in) != 2 or not all(isinstance(v, int | float) and 1 <= v <= 40 for v in size_in):
        raise InputError(f"size_in must be (width, height) in inches, each 1-40, got {size_in!r}")
    crs = L.check_crs(crs)
    cf = L.crime_fields(crime_row, crs)
    r_m = L.crime_radius_m(crime_row, radius_m)
    a_s = cf["t1_s"] if t_from is None else L.instant_s("t_from", t_from)
    b_s = cf["t2_s"] if t_to is None else L.instant_s("t_to", t_to)
    if b_s < a_s:
        raise InputError(f"t_to must not precede t_from, got t_from={t_from!r}, t_to={t_to!r}")
    h, ev = crime_hits(crime_row, hits, evidence)
    subjects = list(dict.fromkeys(h["subject_id"].astype(str)))

    fig = Figure(figsize=size_in, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cx, cy = cf["x_m"], cf["y_m"]
    ax.add_patch(Circle((cx, cy), r_m, facecolor=L.CRIME_COLOUR, alpha=0.12, edgecolor="none"))
    ax.add_patch(
        Circle(
            (cx, cy),
            r_m,
            facecolor="none",
            edgecolor=L.CRIME_COLOUR,
            linewidth=2,
            label=f"crime scene, R = {r_m:g} m",
        )
    )
    ax.plot([cx], [cy], marker="+", color=L.CRIME_COLOUR, markersize=12, markeredgewidth=2)
    ax.annotate(
        cf["crime_ref"],
        (cx, cy),
        xytext=(6, -12),
        textcoords="offset points",
        color=L.CRIME_COLOUR,
        fontsize=9,
        fontweight="bold",
    )
    xs, ys = [cx - r_m, cx + r_m], [cy - r_m, cy + r_m]
    ev_subject = ev["subject_id"].astype(str).to_numpy()
    for i, s in enumerate(subjects):
        colour = L.SUBJECT_COLOURS[i % len(L.SUBJECT_COLOURS)]
        seg = L.subject_segments(trails, s, a_s, b_s, crs, max_gap_s)
        for g in range(3):
            on = seg.gap_class == g
            if on.any():
                lines = np.stack(
                    [
                        np.column_stack([seg.x0_m[on], seg.y0_m[on]]),
                        np.column_stack([seg.x1_m[on], seg.y1_m[on]]),
                    ],
                    axis=1,
                )
                ax.add_collection(
                    LineCollection(
                        lines,
                        colors=colour,
                        linestyles=_MPL_DASH[g],
                        linewidths=(2.2, 1.6, 1.0)[g],
                        alpha=0.9 if g < 2 else 0.6,
                    )
                )
        ax.plot([], [], color=colour, linewidth=2.2, label=s)
        fx = L.subject_fixes(trails, s, a_s, b_s, crs)
        ax.plot(fx.x_m, fx.y_m, linestyle="none", marker="o", markersize=2.5, color=colour)
        ax.add_collection(
            PatchCollection(
                [Circle((x, y), r) for x, y, r in zip(fx.x_m, fx.y_m, fx.accuracy_m, strict=True)],
                facecolor="none",
                edgecolor=colour,
                linewidth=0.4,
                alpha=0.4,
            )
        )
        mine = ev[ev_subject == s]
        e = pd.to_numeric(mine["easting"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        n = pd.to_numeric(mine["northing"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        kinds = mine["kind"].astype(str).to_numpy()
        for k, lab in enumerate(mine["label"].astype(str)):
            if not (np.isfinite(e[k]) and np.isfinite(n[k])):
                continue
            ax.plot(
                [e[k]],
                [n[k]],
                marker="o",
                markersize=6,
                color=colour,
                markerfacecolor=colour if kinds[k] == "fix" else "white",
                markeredgewidth=1.5,
            )
            ax.annotate(
                lab,
                (e[k], n[k]),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                color=colour,
                fontweight="bold",
            )
        xs += [*seg.x0_m, *seg.x1_m, *e[np.isfinite(e)]]
        ys += [*seg.y0_m, *seg.y1_m, *n[np.isfinite(n)]]
    x_lo, x_hi, y_lo, y_hi = _extent(np.asarray(xs, float), np.asarray(ys, float), cx, cy, r_m)
    if basemap is not None:
        from trailmon.map.basemap import draw_basemap_mpl

        draw_basemap_mpl(ax, basemap, x_lo, y_lo, x_hi, y_hi)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal", adjustable="box")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"easting, m ({crs.crs})", fontsize=8)
    ax.set_ylabel(f"northing, m ({crs.crs})", fontsize=8)
    _scale_bar(ax, x_lo, x_hi, y_lo, y_hi)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    ax.set_title(
        f"crime {cf['crime_ref']} {cf['offence']}: {L.iso(cf['t1_s'])} to {L.iso(cf['t2_s'])}\n"
        f"{len(subjects)} subject(s) within {r_m:g} m; dashed: gap 2-10 min, dotted: > 10 min",
        fontsize=9,
    )
    fig.suptitle(MARKING, fontsize=11, fontweight="bold")
    if not subjects:
        ax.text(
            0.5,
            0.05,
            "no subject was within R during the window",
            transform=ax.transAxes,
            ha="center",
            fontsize=9,
            style="italic",
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        from trailmon.map._offline import write_private

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, data)
    return data


def _extent(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, r_m: float
) -> tuple[float, float, float, float]:
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    pad = max(0.1 * max(xs.max() - xs.min(), ys.max() - ys.min()), 0.3 * r_m)
    x_lo, x_hi, y_lo, y_hi = xs.min() - pad, xs.max() + pad, ys.min() - pad, ys.max() + pad
    side = max(x_hi - x_lo, y_hi - y_lo)  # square extent: equal aspect fills the plot area
    mx, my = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    return mx - side / 2, mx + side / 2, my - side / 2, my + side / 2


def _scale_bar(ax, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> None:
    span = x_hi - x_lo
    raw = span / 5
    mag = 10 ** np.floor(np.log10(raw))
    length = max(v * mag for v in (1, 2, 5) if v * mag <= raw) if raw >= mag else mag
    x0 = x_lo + 0.05 * span
    y0 = y_lo + 0.05 * (y_hi - y_lo)
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3, solid_capstyle="butt")
    ax.annotate(
        f"{length:g} m",
        (x0 + length / 2, y0),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        fontsize=8,
    )


def map_key_png(subjects: list[str] | tuple[str, ...] = (), *, radius_m: float | None = None,
                basemap=None, path: str | Path | None = None, dpi: int = 150) -> bytes:
    r"""The key of :func:`static_map_png`'s symbols as a PNG (an exhibit of its own in a printed pack).

    Parameters
    ----------
    subjects : sequence of str, default ()
        Subjects in the order they are drawn on the maps; each gets its track colour.
    radius_m : float, optional
        The scene radius, metres, shown in the key.
    basemap : BaseMap, optional
        The base map drawn on the maps: its kinds of feature are added to the key.
    path : str or Path, optional
        Also write the PNG there.
    dpi : int, default 150
        Resolution, dots per inch.

    Returns
    -------
    bytes
        The PNG file's bytes.

    Examples
    --------
    >>> map_key_png(["S1", "S2"], radius_m=100.0)[:4]
    b'\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from trailmon.map._draw import MARKING

    if not (isinstance(dpi, int) and 20 <= dpi <= 600):
        raise InputError(f"dpi must be an integer from 20 to 600, got {dpi!r}")
    r_text = f", R = {radius_m:g} m" if radius_m else ""
    handles = [
        Patch(facecolor=L.CRIME_COLOUR, alpha=0.3, edgecolor=L.CRIME_COLOUR, label=f"crime scene circle{r_text}"),
        Line2D([], [], color=L.CRIME_COLOUR, marker="+", linestyle="none", markersize=12, markeredgewidth=2,
               label="crime location"),
        Line2D([], [], color="#555555", linestyle=_MPL_DASH[0], linewidth=2.2, label="track: " + L.GAP_CLASS_NAMES[0]),
        Line2D([], [], color="#555555", linestyle=_MPL_DASH[1], linewidth=1.6, label="track: " + L.GAP_CLASS_NAMES[1]),
        Line2D([], [], color="#555555", linestyle=_MPL_DASH[2], linewidth=1.0, label="track: " + L.GAP_CLASS_NAMES[2]),
        Line2D([], [], color="#555555", marker="o", linestyle="none", markersize=2.5, label="recorded fix"),
        Line2D([], [], color="#555555", marker="o", linestyle="none", markersize=11, markerfacecolor="none",
               markeredgewidth=0.6, label="fix accuracy circle (to scale on the maps)"),
        Line2D([], [], color="#555555", marker="o", linestyle="none", markersize=6, label="A1: evidence fix"),
        Line2D([], [], color="#555555", marker="o", linestyle="none", markersize=6, markerfacecolor="white",
               markeredgewidth=1.5, label="A1: first / last point of a pass within R (interpolated)"),
    ]
    if basemap is not None:
        from trailmon.map.basemap import BASEMAP_STYLE

        for kind in sorted(set(basemap.store["kind"])):
            st = BASEMAP_STYLE[kind]
            handles.append(Patch(facecolor=st["fill"], edgecolor=st["color"], label=f"base map: {kind}")
                           if st["fill"] else Line2D([], [], color=st["color"], linewidth=2, label=f"base map: {kind}"))
    handles += [Line2D([], [], color=L.SUBJECT_COLOURS[i % len(L.SUBJECT_COLOURS)], linewidth=2.2,
                       label=f"subject {s}") for i, s in enumerate(subjects)]
    fig = Figure(figsize=(6.0, 0.6 + 0.28 * len(handles)), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.suptitle(MARKING, fontsize=10, fontweight="bold")
    fig.legend(handles=handles, loc="center", fontsize=8, frameon=False, title="Map key", title_fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if path is not None:
        from trailmon.map._offline import write_private

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, data)
    return data
