"""What a validation report is made of, independent of how it is rendered.

A report is a list of ``Section``s; a section is a list of blocks: paragraphs, call-outs,
key/value lists, tables and figures. A ``Figure`` does not hold an image: it names a plot
kind (``"column_distributions"``, ``"heatmaps"``, ``"roc"``...) and carries the aggregated
numbers to draw (histogram counts, curve points), so the same section serialises into
``report.json`` and renders into HTML/PDF. Figures of image releases (sample grids,
closest pairs) carry the images they show as ``Pixels``: drawn into the HTML/PDF, and
summarised (count, shape, where they come from) in ``report.json``. The renderer in ``reports/`` keeps a registry of
plot kinds; a new modality (images: sample grids, FID, memorised pairs) adds sections that
use new kinds and registers their plotting functions, without touching the gate or the
templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from synthgen.evaluate.metric import json_safe

if TYPE_CHECKING:
    import numpy as np

Level = Literal["pass", "warn", "fail", "info"]


@dataclass
class Paragraph:
    text: str
    type: str = "paragraph"


@dataclass
class Callout:
    """A boxed message; ``level`` picks its colour (``fail`` is red and large)."""

    text: str
    level: Level = "info"
    type: str = "callout"


@dataclass
class KeyValues:
    items: list[tuple[str, str]]
    type: str = "key_values"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    row_levels: list[Level | None] | None = None  # colours rows by status, when given
    type: str = "table"


@dataclass(eq=False)
class Pixels:
    """Images a figure draws: uint8 ``[N, H, W]`` or ``[N, H, W, C]``.

    Real images are personal data, so they go where the figure is drawn (the HTML and PDF
    report, steward and auditors only) and nowhere else: ``report.json`` records how many,
    their shape and where they come from, not their pixels."""

    array: np.ndarray
    source: str  # e.g. "training split", "synthetic"

    def json_summary(self) -> dict[str, Any]:
        return {
            "images": int(self.array.shape[0]),
            "shape": [int(x) for x in self.array.shape[1:]],
            "source": self.source,
            "pixels": "drawn in report.html and report.pdf only",
        }


@dataclass
class Figure:
    plot: str  # a plot kind known to the renderer
    data: dict[str, Any]
    caption: str = ""
    type: str = "figure"


@dataclass
class Summary:
    """The bottom line on top of a report: the verdict, its headline and labelled sentences
    (privacy, fidelity, usefulness, what to do); see ``synthgen.evaluate.bottom_line``."""

    verdict: str
    headline: str
    sentences: list[tuple[str, str]]
    attention: list[str]  # names of the checks that warned or failed
    type: str = "summary"


@dataclass
class Preformatted:
    text: str
    type: str = "preformatted"


Block = Paragraph | Callout | KeyValues | Table | Figure | Preformatted | Summary


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: Level | None = None  # the worst status of the checks in this section, if any
    # appendix sections come after the others, collapsed in the HTML (<details>): what a
    # reader needs only to check the rest (every passing row, the thresholds, the config)
    appendix: bool = False

    def add(self, block: Block) -> Section:
        self.blocks.append(block)
        return self

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "level": self.level,
            "appendix": self.appendix,
        }
        out["blocks"] = [json_safe(vars(b)) for b in self.blocks]
        return out
