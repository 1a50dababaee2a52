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


def positive_scores(train: pd.DataFrame, test: pd.DataFrame, target: str, positive: str) -> np.ndarray:
    """P(target = ``positive``) for each row of ``test`` from gradient boosting fitted on
    ``train`` (labels compared as strings); a constant 0.5 when ``train`` has one class."""
    y_train = (train[target].astype(str) == positive).astype(int)
    if y_train.nunique() < 2:
        return np.full(len(test), 0.5)
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    clf.fit(_features(train, target, test), y_train)
    return clf.predict_proba(_features(test, target, test))[:, 1]


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame, target: str) -> float:
    """ROC AUC on ``test`` of gradient boosting fitted on ``train`` (binary labels: the
    positive class is the second in sorted order)."""
    positive = sorted({str(v) for v in test[target]})[-1]
    scores = positive_scores(train, test, target, positive)
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


DETECTION_ROWS = 20_000  # per side, as in issue 21's harness
DETECTION_FOLDS = 5


def _one_hot_numeric(frames: list[pd.DataFrame], schema: Schema) -> list[np.ndarray]:
    """Numerics as floats (nulls stay NaN for the trees), categoricals one-hot over the values
    seen in any frame (so a synthetic-only value such as "(other)" is a feature too)."""
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for spec in schema.synthesized:
        if spec.is_numeric:
            for i, f in enumerate(frames):
                blocks[i].append(pd.to_numeric(f[spec.name], errors="coerce").to_numpy(float)[:, None])
        else:
            as_text = [f[spec.name].map(lambda v: "null" if pd.isna(v) else str(v)).to_numpy() for f in frames]
            values = np.array(sorted(set().union(*(set(t) for t in as_text))))
            for i, t in enumerate(as_text):
                blocks[i].append((t[:, None] == values[None, :]).astype(float))
    return [np.hstack(b) for b in blocks]


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, seed: int = 0) -> float:
    """Classifier two-sample test: 5-fold cross-validated ROC AUC of gradient boosting (one-hot
    categoricals, raw numerics) separating real rows from as many synthetic ones (at most
    20,000 of each). 0.5: indistinguishable; 1.0: every synthetic row is spotted."""
    from synthgen.evaluate.fidelity.detection import cross_validated_auc

    n = min(len(real), len(synthetic), DETECTION_ROWS)
    rng = np.random.default_rng(seed)
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = synthetic.iloc[rng.choice(len(synthetic), n, replace=False)]
    x_r, x_s = _one_hot_numeric([r, s], schema)
    return cross_validated_auc(
        np.vstack([x_r, x_s]), np.repeat([1, 0], n), folds=DETECTION_FOLDS, seed=seed,
        make_model=lambda: HistGradientBoostingClassifier(random_state=seed),
    )


def numeric_columns(schema: Schema) -> list[str]:
    return [c.name for c in schema.synthesized if c.is_numeric]


def share_on_bounds(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema,
                    bounds: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Share of all non-null numeric values that sit exactly on their column's bound
    (``bounds``: the model's bounds, declared or DP), real and synthetic."""
    on = {"real": [0, 0], "synthetic": [0, 0]}
    for name in numeric_columns(schema):
        if name not in bounds:
            continue
        lo, hi = bounds[name]
        for side, df in (("real", real), ("synthetic", synthetic)):
            v = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
            v = v[np.isfinite(v)]
            on[side][0] += int(np.sum((v == lo) | (v == hi)))
            on[side][1] += v.size
    return (on["real"][0] / max(on["real"][1], 1), on["synthetic"][0] / max(on["synthetic"][1], 1))


def top_value_shares(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> dict[str, tuple[object, float, float]]:
    """For each numeric column: its most common real value, that value's share of the real
    rows and of the synthetic rows (heaps such as Adult's 40 hours a week)."""
    out: dict[str, tuple[object, float, float]] = {}
    for name in numeric_columns(schema):
        r = pd.to_numeric(real[name], errors="coerce")
        s = pd.to_numeric(synthetic[name], errors="coerce")
        top = r.value_counts().index[0]
        out[name] = (top, float((r == top).mean()), float((s == top).mean()))
    return out


def null_counts(synthetic: pd.DataFrame, real: pd.DataFrame) -> dict[str, int]:
    """Synthetic nulls in the columns that have none in the real table."""
    return {c: int(synthetic[c].isna().sum()) for c in real.columns
            if c in synthetic and real[c].notna().all() and synthetic[c].isna().any()}


def max_decimals(values: pd.Series, limit: int = 15) -> int:
    """The most decimals any of the (first 1,000) values needs (as written by pandas)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)[:1000]
    for d in range(limit):
        if np.all(np.abs(v * 10**d - np.round(v * 10**d)) < 1e-9 * np.maximum(1.0, np.abs(v * 10**d))):
            return d
    return limit
