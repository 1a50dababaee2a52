"""Metrics of the tabular benchmark (kept small and explicit so the numbers are easy to
re-derive; the release gate's metrics live in synthgen/evaluate)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from synthgen.tabular.schema import Schema


def _features(df: pd.DataFrame, target: str, reference: pd.DataFrame) -> pd.DataFrame:
    x = df.drop(columns=[target]).copy()
    for col in x.columns:
        if reference[col].dtype == object or isinstance(reference[col].dtype, pd.StringDtype) or str(reference[col].dtype) == "str":
            categories = sorted({str(v) for v in reference[col].dropna()})
            x[col] = pd.Categorical(x[col].map(lambda v: None if pd.isna(v) else str(v)), categories=categories)
        else:
            x[col] = pd.to_numeric(x[col], errors="coerce").astype(float)
    return x


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame, target: str) -> float:
    """ROC AUC on ``test`` of gradient boosting fitted on ``train`` (binary labels: the
    positive class is the second in sorted order)."""
    classes = sorted({str(v) for v in test[target]})
    positive = classes[-1]
    y_train = (train[target].astype(str) == positive).astype(int)
    if y_train.nunique() < 2:
        return 0.5
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    clf.fit(_features(train, target, test), y_train)
    scores = clf.predict_proba(_features(test, target, test))[:, 1]
    return float(roc_auc_score((test[target].astype(str) == positive).astype(int), scores))


def _cut(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bin labels of numbers between ``inner_edges``; nulls get their own label."""
    idx = np.searchsorted(inner_edges, values, side="right").astype(object)
    idx[np.isnan(values)] = "null"
    return idx.astype(str)


def _discretise(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, pd.DataFrame]:
    out_r, out_s = {}, {}
    for spec in schema.synthesized:
        r, s = real[spec.name], synthetic[spec.name]
        if spec.is_numeric:
            rv = pd.to_numeric(r, errors="coerce").to_numpy(float)
            sv = pd.to_numeric(s, errors="coerce").to_numpy(float)
            inner = np.unique(np.nanquantile(rv, np.linspace(0, 1, 21)))[1:-1]
            out_r[spec.name], out_s[spec.name] = _cut(rv, inner), _cut(sv, inner)
        else:
            out_r[spec.name] = r.map(lambda v: "null" if pd.isna(v) else str(v)).to_numpy()
            out_s[spec.name] = s.map(lambda v: "null" if pd.isna(v) else str(v)).to_numpy()
    return pd.DataFrame(out_r), pd.DataFrame(out_s)


def marginal_tv(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> tuple[float, float]:
    """Mean total-variation distance over all 1-way and all 2-way marginals."""
    r, s = _discretise(real, synthetic, schema)

    def tv(cols: list[str]) -> float:
        pr = r.groupby(cols).size() / len(r)
        ps = s.groupby(cols).size() / len(s)
        joint = pd.concat([pr, ps], axis=1).fillna(0.0)
        return float(0.5 * (joint.iloc[:, 0] - joint.iloc[:, 1]).abs().sum())

    one = [tv([c]) for c in r.columns]
    two = [tv(list(p)) for p in itertools.combinations(r.columns, 2)]
    return float(np.mean(one)), float(np.mean(two))


def _encode(frames: list[pd.DataFrame], schema: Schema) -> list[np.ndarray]:
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for spec in schema.synthesized:
        if spec.is_numeric:
            ref = pd.to_numeric(frames[0][spec.name], errors="coerce").astype(float)
            lo, hi = ref.min(), ref.max()
            for i, f in enumerate(frames):
                v = (pd.to_numeric(f[spec.name], errors="coerce").astype(float) - lo) / max(hi - lo, 1e-12)
                blocks[i].append(v.fillna(-1.0).to_numpy()[:, None])
        else:
            cats = sorted({str(v) for v in frames[0][spec.name]})
            for i, f in enumerate(frames):
                values = f[spec.name].map(str).to_numpy()
                blocks[i].append((values[:, None] == np.array(cats)[None, :]).astype(float) / np.sqrt(2))
    return [np.hstack(b) for b in blocks]


def closer_to_train_share(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame,
                          schema: Schema, n: int = 5000) -> float:
    """Share of synthetic rows whose nearest real row is in train rather than in an equally
    large holdout (ties count half)."""
    m = min(len(train), len(holdout))
    rng = np.random.default_rng(0)
    tr = train.iloc[rng.choice(len(train), m, replace=False)]
    ho = holdout.iloc[rng.choice(len(holdout), m, replace=False)]
    sy = synthetic.iloc[: min(n, len(synthetic))]
    x_tr, x_ho, x_sy = _encode([tr, ho, sy], schema)
    d_tr = NearestNeighbors(n_neighbors=1).fit(x_tr).kneighbors(x_sy)[0][:, 0]
    d_ho = NearestNeighbors(n_neighbors=1).fit(x_ho).kneighbors(x_sy)[0][:, 0]
    return float(np.mean((d_tr < d_ho) + 0.5 * (d_tr == d_ho)))


def exact_copies(synthetic: pd.DataFrame, train: pd.DataFrame, schema: Schema) -> int:
    """Synthetic rows equal to some training row in every column (numbers compared as numbers)."""

    def key(df: pd.DataFrame) -> pd.Series:
        parts = []
        for spec in schema.synthesized:
            col = df[spec.name]
            if spec.is_numeric:
                col = pd.to_numeric(col, errors="coerce").astype(float).round(6)
            parts.append(col.map(lambda v: "null" if pd.isna(v) else str(v)))
        return pd.concat(parts, axis=1).agg("\x1f".join, axis=1)

    return int(key(synthetic).isin(set(key(train))).sum())
