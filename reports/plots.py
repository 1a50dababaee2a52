"""Plot kinds: each turns a ``Figure``'s data into a PNG, returned as base64 text.

The registry maps the ``plot`` name of a ``synthgen.evaluate.sections.Figure`` to a drawing
function. A new modality registers its kinds with ``@plot("name")`` (image grids, FID
curves...) and the templates need no change. Matplotlib runs headless (Agg backend).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np

REAL = "#1f5fa8"
SYNTHETIC = "#e07b24"
DPI = 96

PlotFunction = Callable[[dict[str, Any]], Any]  # returns a matplotlib Figure
_REGISTRY: dict[str, PlotFunction] = {}


def plot(name: str) -> Callable[[PlotFunction], PlotFunction]:
    def register(fn: PlotFunction) -> PlotFunction:
        _REGISTRY[name] = fn
        return fn

    return register


def render_png(kind: str, data: dict[str, Any]) -> str:
    """Draw a figure of ``kind`` and return it as base64-encoded PNG.

    Figures are built as ``matplotlib.figure.Figure`` objects, not through pyplot, so no
    GUI backend or global figure state is involved.
    """
    if kind not in _REGISTRY:
        raise KeyError(f"no plot kind {kind!r} is registered")
    fig = _REGISTRY[kind](data)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _short(label: str, n: int = 16) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


@plot("column_distributions")
def column_distributions(data: dict[str, Any]) -> Any:
    columns = data["columns"]
    n = len(columns)
    ncols = 3
    nrows = max(1, math.ceil(n / ncols))
    fig = _figure(7.2, 2.2 * nrows)  # 7.2 in: the A4 text width, so the PDF prints it at full size
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, c) in zip(axes.flat, columns.items(), strict=False):
        if c["type"] == "histogram":
            edges = np.asarray(c["edges"], dtype=float)
            width = np.diff(edges)
            ax.bar(
                edges[:-1],
                c["real"],
                width=width,
                align="edge",
                color=REAL,
                alpha=0.55,
                label="real",
            )
            ax.step(
                edges[:-1],
                c["synthetic"],
                where="post",
                color=SYNTHETIC,
                linewidth=1.6,
                label="synthetic",
            )
        else:
            x = np.arange(len(c["labels"]))
            ax.bar(x - 0.2, c["real"], width=0.4, color=REAL, label="real")
            ax.bar(x + 0.2, c["synthetic"], width=0.4, color=SYNTHETIC, label="synthetic")
            ax.set_xticks(
                x,
                [_short(str(lbl), 10) for lbl in c["labels"]],
                rotation=45,
                ha="right",
                fontsize=7,
            )
        ax.set_title(f"{_short(name, 22)}  ({c['score']:.2f})", fontsize=8.5)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="upper right")
    return fig


@plot("association_heatmaps")
def association_heatmaps(data: dict[str, Any]) -> Any:
    """Two panels at the A4 text width: real below the diagonal and synthetic above it (one
    matrix, so a lost dependency shows as an asymmetry), and the absolute difference."""
    names = [_short(str(n), 14) for n in data["columns"]]
    real = np.asarray(data["real"], dtype=float)
    syn = np.asarray(data["synthetic"], dtype=float)
    lower = np.tril(np.ones_like(real, dtype=bool), k=-1)
    combined = np.where(lower, real, syn)
    np.fill_diagonal(combined, np.nan)
    panels = [
        ("real (below diagonal) / synthetic (above)", combined, "Blues"),
        ("|real − synthetic|", np.abs(real - syn), "Reds"),
    ]
    fontsize = 7 if len(names) <= 20 else 5.5
    fig = _figure(7.2, 4.0)
    axes = fig.subplots(1, 2)
    ticks = np.arange(len(names))
    for ax, (title, m, cmap) in zip(axes, panels, strict=True):
        image = ax.imshow(m, vmin=0, vmax=1, cmap=cmap)
        ax.set_title(title, fontsize=8.5)
        ax.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
        ax.set_yticks(ticks, names if ax is axes[0] else [""] * len(names), fontsize=fontsize)
        fig.colorbar(image, ax=ax, shrink=0.7, label="Cramér's V").ax.tick_params(labelsize=7)
    return fig


@plot("augmentation_curve")
def augmentation_curve(data: dict[str, Any]) -> Any:
    points = data["points"]
    fig = _figure(6.0, 3.4)
    ax = fig.subplots()
    x = [p["real_rows"] for p in points]
    ax.plot(x, [p["roc_auc_real"] for p in points], "o-", color=REAL, label="real subset")
    ax.plot(
        x,
        [p["roc_auc_augmented"] for p in points],
        "s-",
        color=SYNTHETIC,
        label="real subset + synthetic",
    )
    if data.get("full_real") is not None:
        ax.axhline(
            data["full_real"],
            color=REAL,
            linestyle="--",
            linewidth=1,
            label="all real training rows",
        )
    if data.get("synthetic_only") is not None:
        ax.axhline(
            data["synthetic_only"],
            color=SYNTHETIC,
            linestyle="--",
            linewidth=1,
            label="synthetic only",
        )
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:,}" for v in x])
    ax.minorticks_off()
    ax.set_xlabel("real training rows")
    ax.set_ylabel("ROC AUC on real holdout")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


@plot("distance_histograms")
def distance_histograms(data: dict[str, Any]) -> Any:
    edges = np.asarray(data["edges"], dtype=float)
    fig = _figure(6.0, 3.2)
    ax = fig.subplots()
    colours = [REAL, SYNTHETIC, "#3a9e5f", "#8a4fb8"]
    for colour, (label, counts) in zip(colours, data["series"].items(), strict=False):
        c = np.asarray(counts, dtype=float)
        if data.get("density"):
            c = c / max(c.sum(), 1.0)
        ax.stairs(c, edges, color=colour, linewidth=1.6, label=label, fill=False)
    ax.set_xlabel(data.get("xlabel", "distance"))
    unit = data.get("unit", "rows")
    ax.set_ylabel(f"share of {unit}" if data.get("density") else unit)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


@plot("roc_curves")
def roc_curves(data: dict[str, Any]) -> Any:
    fig = _figure(4.2, 4.0)
    ax = fig.subplots()
    colours = [SYNTHETIC, REAL, "#3a9e5f"]
    for colour, (name, curve) in zip(colours, data["curves"].items(), strict=False):
        auc = data.get("aucs", {}).get(name)
        label = f"{name} (AUC {auc:.3f})" if auc is not None else name
        ax.plot(curve["fpr"], curve["tpr"], color=colour, linewidth=1.8, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (non-members called members)")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _strip(images: np.ndarray, count: int, gap: int = 2) -> np.ndarray:
    """``count`` image slots side by side (a white gap between them; missing images stay
    white): uint8 [H, count * (W + gap) - gap(, C)]."""
    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    tail = images.shape[3:]
    out = np.full((h, max(count, 1) * (w + gap) - gap, *tail), 255, dtype=np.uint8)
    for i in range(min(n, count)):
        out[:, i * (w + gap) : i * (w + gap) + w] = images[i]
    return out


def _show(ax: Any, image: np.ndarray, channels: int) -> None:
    if channels == 1:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


@plot("image_grid")
def image_grid(data: dict[str, Any]) -> Any:
    """One row per class: real training images on the left, synthetic on the right."""
    rows = data["rows"]
    channels = int(data.get("channels", 1))
    count = max(
        [len(r["real"].array) for r in rows] + [len(r["synthetic"].array) for r in rows] + [1]
    )
    shape = next(
        (r[side].array.shape for r in rows for side in ("real", "synthetic") if len(r[side].array)),
        (1, 28, 28),
    )
    strip_inches = 4.6  # each of the two columns of a 10-inch figure
    aspect = shape[1] / (count * (shape[2] + 2) - 2)
    fig = _figure(10.0, 0.45 + (strip_inches * aspect + 0.12) * len(rows))
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for (left, right), row in zip(axes, rows, strict=True):
        for ax, side in ((left, "real"), (right, "synthetic")):
            _show(ax, _strip(row[side].array, count), channels)
            if not len(row[side].array):
                ax.text(
                    0.5,
                    0.5,
                    "no images of this class",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                )
        left.set_ylabel(
            _short(f"{row['label']}: {row['class']}", 18),
            fontsize=8,
            rotation=0,
            ha="right",
            va="center",
        )
    axes[0][0].set_title("real (training split)", fontsize=9, color=REAL)
    axes[0][1].set_title("synthetic", fontsize=9, color=SYNTHETIC)
    return fig


@plot("image_pairs")
def image_pairs(data: dict[str, Any]) -> Any:
    """Closest synthetic-training pairs: synthetic on top, its nearest training image below."""
    pairs = data["pairs"]
    channels = int(data.get("channels", 1))
    n = max(len(pairs), 1)
    fig = _figure(min(10.0, 1.3 * n + 0.8), 3.0)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        top, bottom = axes[0][i], axes[1][i]
        if i >= len(pairs):
            top.set_visible(False)
            bottom.set_visible(False)
            continue
        pair = pairs[i]
        _show(top, data["synthetic"].array[i], channels)
        _show(bottom, data["training"].array[i], channels)
        label = "identical" if pair["identical"] else f"d = {pair['distance']:.3f}"
        top.set_title(label, fontsize=8, color="#b42318" if pair["identical"] else "#1d2329")
        bottom.set_xlabel(f"train #{pair['training_index']}", fontsize=7)
    axes[0][0].set_ylabel("synthetic", fontsize=8, color=SYNTHETIC)
    axes[1][0].set_ylabel("training", fontsize=8, color=REAL)
    return fig
