"""Holding sampled rows to the schema's constraints: compute, check, redraw.

Sampling is post-processing of the DP model, so drawing rows again costs no privacy. A
chunk's computed columns (``determined_by``, ``formula``) are filled from their inputs,
and every row that still breaks a rule is replaced by a fresh row of the same class, so the
class counts asked for are kept. Each redraw round has its own generator, fixed by the
caller from the seed, so the same seed gives the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthgen.errors import ConstraintUnsatisfied
from synthgen.tabular.constraints import ConstraintSet

MAX_REDRAW_ROUNDS = 30  # at a 50% violation rate and 16k rows per chunk, ~6 rounds suffice
MAX_REDRAW_COPIES = 16  # candidates drawn per broken row in one round (see enforce)


@dataclass
class RedrawTally:
    """How many rows a sampler returned, how many of them broke a constraint at their first
    draw and were replaced (the redraw rate), and how many rows it drew in all, candidates
    included (a property of the model and the rules, not of the data: shareable)."""

    rows: int = 0
    redrawn: int = 0
    draws: int = 0

    @property
    def redraw_rate(self) -> float:
        return self.redrawn / self.rows if self.rows else 0.0

    def add(self, other: RedrawTally) -> None:
        """Count another sampler's rows too (a sampling process's chunk)."""
        self.rows += other.rows
        self.redrawn += other.redrawn
        self.draws += other.draws


def enforce(
    frame: pd.DataFrame,
    labels: np.ndarray,
    constraints: ConstraintSet,
    draw: Callable[[np.ndarray, int], pd.DataFrame],
    *,
    tally: RedrawTally | None = None,
) -> pd.DataFrame:
    """``frame`` with computed columns filled and every broken row replaced by a fresh row
    of the same class; ``draw(labels, round)`` samples one decoded row per label from a
    generator fixed by the round (so the result is reproducible by seed).

    Each round draws about 1 / (share of draws that keep the rules) candidates per broken
    row, at most ``MAX_REDRAW_COPIES`` (one good candidate expected per row, so a rule the
    model keeps half the time still needs few rounds), and keeps the first that keeps every
    rule; the share is the first draw's, then the last round's candidates'. Raises
    ConstraintUnsatisfied after ``MAX_REDRAW_ROUNDS`` rounds.
    """
    frame, broken = _held(frame, constraints)
    redrawn, draws = int(broken.sum()), len(frame)
    share_kept = 1.0 - float(broken.mean()) if len(frame) else 1.0
    for round_ in range(1, MAX_REDRAW_ROUNDS + 1):
        if not broken.any():
            break
        copies = int(np.clip(round(1.0 / max(share_kept, 1e-9)), 1, MAX_REDRAW_COPIES))
        todo = np.flatnonzero(broken)
        candidates, candidate_broken = _held(
            draw(np.repeat(labels[todo], copies), round_), constraints
        )
        ok = ~candidate_broken.reshape(len(todo), copies)
        found = ok.any(axis=1)
        first = ok.argmax(axis=1)
        chosen = np.arange(len(todo)) * copies + first
        frame = _replace_rows(frame, todo[found], candidates.iloc[chosen[found]])
        broken[todo[found]] = False
        draws += len(candidates)
        share_kept = 1.0 - float(candidate_broken.mean())
    if broken.any():
        counts = {rule: int(m.sum()) for rule, m in constraints.broken_by_each(frame).items()}
        worst = max(counts, key=lambda rule: counts[rule])
        raise ConstraintUnsatisfied(
            f"after {MAX_REDRAW_ROUNDS} redraw rounds, {int(broken.sum())} of {len(frame)} rows "
            f"still break a declared constraint (most often: {worst}); the model rarely draws "
            "rows that keep it: check the constraint, or train longer or with more budget"
        )
    if tally is not None:
        tally.rows += len(frame)
        tally.redrawn += redrawn
        tally.draws += draws
    return frame


def _held(frame: pd.DataFrame, constraints: ConstraintSet) -> tuple[pd.DataFrame, np.ndarray]:
    frame, unwritable = constraints.construct(frame)
    return frame, unwritable | constraints.broken_rows(frame)


def _replace_rows(frame: pd.DataFrame, positions: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    if len(positions) == 0:
        return frame
    out = {}
    for name in frame.columns:
        column = frame[name].array.copy()
        column[positions] = rows[name].array
        out[name] = column
    return pd.DataFrame(out, index=frame.index)
