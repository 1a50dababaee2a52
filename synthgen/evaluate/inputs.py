"""The prepared inputs of one tabular validation run, shared by every metric.

``TabularInputs`` holds the real training split, the real holdout split and the synthetic
table in canonical form, one ``TableEncoding`` for all three, and caches what several
metrics need (distance features, fixed random subsets, nearest-neighbour queries), so that
a full validation of Adult-sized tables stays within a minute on two cores.

Randomness: every subset is drawn from a generator seeded with the run's ``seed`` and the
subset's name, so results do not depend on which metrics ran before.
"""

from __future__ import annotations

import zlib
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthgen.evaluate.metric import Metric, MetricResult
from synthgen.evaluate.model_statistics import ModelStatistics
from synthgen.evaluate.tables import TableEncoding, normalise
from synthgen.tabular.schema import Schema

MAX_REFERENCE_ROWS = 50_000  # real rows per side in train-vs-holdout distance comparisons
MAX_QUERY_ROWS = 10_000  # synthetic rows whose distances to real records are measured
MAX_BASELINE_ROWS = 2_000  # holdout rows measured against train, for scale
MAX_ATTACK_ROWS = 5_000  # members (and as many non-members) scored by the attacks


@dataclass
class TabularInputs:
    schema: Schema
    train: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    encoding: TableEncoding
    seed: int = 0
    model: ModelStatistics | None = None  # the model's released DP statistics, when known
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        *,
        schema: Schema,
        train: pd.DataFrame,
        synthetic: pd.DataFrame,
        holdout: pd.DataFrame | None = None,
        seed: int = 0,
        model: ModelStatistics | None = None,
    ) -> TabularInputs:
        """Normalise the three tables (conformed or raw) and fit the shared encoding."""
        train_n = normalise(train, schema)
        synthetic_n = normalise(synthetic, schema)
        holdout_n = normalise(holdout, schema) if holdout is not None else None
        others = [synthetic_n] + ([holdout_n] if holdout_n is not None else [])
        encoding = TableEncoding.fit(schema, train_n, others)
        return cls(schema, train_n, synthetic_n, holdout_n, encoding, seed, model)

    # -- basic views ------------------------------------------------------------------------
    @property
    def target(self) -> str | None:
        spec = self.schema.target
        return spec.name if spec is not None else None

    @property
    def sensitive(self) -> list[str]:
        return [c.name for c in self.schema.synthesized if c.sensitive]

    def table(self, name: str) -> pd.DataFrame:
        table = {"train": self.train, "holdout": self.holdout, "synthetic": self.synthetic}[name]
        if table is None:
            raise ValueError(f"no {name} table in these inputs")
        return table

    def rng(self, purpose: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode())])

    # -- fixed subsets -----------------------------------------------------------------------
    def subset(self, name: str) -> tuple[str, np.ndarray]:
        """(base table, row indices) of a named subset, drawn once per run.

        - ``train_ref`` / ``holdout_ref``: the train and holdout rows distances are measured
          to (all of them up to MAX_REFERENCE_ROWS each; metrics correct for unequal sizes);
        - ``synthetic_query``: the synthetic rows whose distances are measured;
        - ``holdout_query``: holdout rows measured against train, for scale;
        - ``members`` / ``nonmembers`` / ``attack_reference``: train rows, holdout rows and
          the other holdout rows used by membership inference (the reference sample must
          not contain the non-members it is compared with);
        - ``targets_train`` / ``targets_holdout``: attribute-inference targets, as many
          training rows as holdout rows (all of them, up to MAX_ATTACK_ROWS): no reference
          sample is needed there, so the whole holdout serves and the estimate is less noisy.
        """
        key = ("subset", name)
        if key not in self._cache:
            self._cache[key] = self._draw_subset(name)
        return self._cache[key]

    def _draw_subset(self, name: str) -> tuple[str, np.ndarray]:
        n_train = len(self.train)
        n_holdout = len(self.holdout) if self.holdout is not None else 0
        n_syn = len(self.synthetic)

        def pick(n: int, k: int, purpose: str) -> np.ndarray:
            if k >= n:
                return np.arange(n)
            return np.sort(self.rng(purpose).choice(n, size=k, replace=False))

        if name == "train_ref":
            return "train", pick(n_train, MAX_REFERENCE_ROWS, name)
        if name == "holdout_ref":
            return "holdout", pick(n_holdout, MAX_REFERENCE_ROWS, name)
        if name == "synthetic_query":
            return "synthetic", pick(n_syn, MAX_QUERY_ROWS, name)
        if name == "holdout_query":
            return "holdout", pick(n_holdout, MAX_BASELINE_ROWS, name)
        if name in ("nonmembers", "attack_reference"):
            order = self.rng("holdout halves").permutation(n_holdout)
            half = min(n_holdout // 2, MAX_ATTACK_ROWS)
            part = order[:half] if name == "nonmembers" else order[half : 2 * half]
            return "holdout", np.sort(part)
        if name == "members":
            k = len(self.subset("nonmembers")[1])
            return "train", pick(n_train, k, name)
        if name == "targets_holdout":
            return "holdout", pick(n_holdout, MAX_ATTACK_ROWS, name)
        if name == "targets_train":
            k = len(self.subset("targets_holdout")[1])
            return "train", pick(n_train, k, name)
        raise KeyError(name)

    def rows(self, subset: str) -> pd.DataFrame:
        if subset in ("train", "holdout", "synthetic"):
            return self.table(subset)
        base, idx = self.subset(subset)
        return self.table(base).iloc[idx].reset_index(drop=True)

    # -- distances ---------------------------------------------------------------------------
    def features(self, subset: str, columns: tuple[str, ...] | None = None) -> np.ndarray:
        key = ("features", subset, columns)
        if key not in self._cache:
            if subset in ("train", "holdout", "synthetic"):
                self._cache[key] = self.encoding.distance_features(self.table(subset), columns)
            else:
                base, idx = self.subset(subset)
                self._cache[key] = self.features(base, columns)[idx]
        return self._cache[key]

    def nearest(
        self, query: str, reference: str, k: int = 1, columns: tuple[str, ...] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices (into ``reference``) of each query row's k nearest rows."""
        key = ("nearest", query, reference, columns)
        cached = self._cache.get(key)
        if cached is None or cached[0].shape[1] < k:
            from sklearn.neighbors import NearestNeighbors

            ref = self.features(reference, columns)
            kk = min(k, len(ref))
            index = NearestNeighbors(n_neighbors=kk, algorithm="brute").fit(ref)
            dist, idx = index.kneighbors(self.features(query, columns))
            cached = (dist, idx)
            self._cache[key] = cached
        return cached[0][:, :k], cached[1][:, :k]


class TabularMetric(Metric):
    """A metric on tables: ``compute`` on DataFrames, ``evaluate`` on prepared inputs.

    ``real`` is the real training split (conformed or raw, with the schema's synthesized
    columns); ``holdout`` is real data the model never saw, needed by the privacy and
    utility metrics; ``synthetic`` is the synthetic table.
    """

    def compute(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        *,
        schema: Schema,
        holdout: pd.DataFrame | None = None,
        seed: int = 0,
    ) -> MetricResult:
        inputs = TabularInputs.build(
            schema=schema, train=real, synthetic=synthetic, holdout=holdout, seed=seed
        )
        return self.evaluate(inputs)

    @abstractmethod
    def evaluate(self, inputs: TabularInputs) -> MetricResult: ...
