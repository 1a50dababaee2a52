"""Neighbouring datasets: nothing shipped in MODEL_DIR may be a deterministic function of
whether one record is present (add/remove adjacency, the one the certificate states).

Each case trains twice on D and twice on D plus one record, with the same seed. The
privacy noise comes from the OS, so a value that the noise drives differs within a pair; a
value that is equal within each pair but differs across the pairs is set by the data
without noise, and is a leak unless the certificate names it as an assumption.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synthgen.requests import TrainRequest
from tests.conftest import repeatable_privacy_noise

# values allowed to differ whatever the data: when the run happened, its random identity
IGNORED_KEYS = ("created_at", "run_id")


def _walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(f"{prefix}[{i}]", item)
        yield f"{prefix}.__len__", len(value)
    else:
        yield prefix, value


def shipped_values(model_dir: Path) -> dict[str, Any]:
    """Every JSON leaf and every tensor (shape and bytes) of every file in ``model_dir``."""
    from safetensors.numpy import load_file

    out: dict[str, Any] = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(model_dir))
        if path.suffix == ".json":
            out.update(_walk(name, json.loads(path.read_text())))
        elif path.suffix == ".safetensors":
            for key, array in load_file(str(path)).items():
                out[f"{name}:{key}"] = (array.shape, str(array.dtype), array.tobytes())
        else:
            out[name] = path.read_bytes()
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def deterministic_differences(d1: Path, d2: Path, e1: Path, e2: Path) -> list[str]:
    """Keys equal within each pair (D, D) and (D+1, D+1) but different across them."""
    a1, a2, b1, b2 = (shipped_values(d) for d in (d1, d2, e1, e2))
    missing = object()
    found = []
    for key in sorted(set(a1) | set(a2) | set(b1) | set(b2)):
        if any(key.endswith(ignored) or f".{ignored}" in key for ignored in IGNORED_KEYS):
            continue
        va1, va2, vb1, vb2 = (v.get(key, missing) for v in (a1, a2, b1, b2))
        if _same(va1, va2) and _same(vb1, vb2) and not _same(va1, vb1):
            found.append(key)
    return found


def _assumptions(model_dir: Path) -> list[dict[str, Any]]:
    return json.loads((model_dir / "certificate.json").read_text()).get("assumptions", [])


def _excused_keys(d: Path, e: Path) -> set[str]:
    """Keys the certificate names as read from the data without noise and accepted by the
    steward: excused only when those assumed values themselves differ between D and D+1."""
    excused: set[str] = set()
    theirs = {a["name"]: a for a in _assumptions(e)}
    for item in _assumptions(d):
        other = theirs.get(item["name"])
        if other is None or other.get("values") != item.get("values"):
            excused |= set(item.get("shipped_keys", [])) | {"certificate.json.assumptions"}
    return excused


def _train_four(train: Callable[[Any, Path], None], base: Any, plus_one: Any, tmp_path: Path) -> list[Path]:
    """D and D+1 each trained with privacy noise streams 1 and 2. Runs 1 of D and of D+1
    share their noise stream (as far as the data's size leaves the draws aligned): a
    noise-driven choice (a bucket over a threshold) then comes out the same on both sides
    unless the record moved it, instead of matching within each pair and differing across
    by chance (up to 1 in 8 for a coin flip with independent noise)."""
    dirs = []
    for name, source, stream in (("d1", base, 1), ("d2", base, 2), ("e1", plus_one, 1),
                                 ("e2", plus_one, 2)):
        out = tmp_path / name / "model"
        with repeatable_privacy_noise(1000 + stream):
            train(source, out)
        dirs.append(out)
    return dirs


def _check(dirs: list[Path]) -> None:
    leaks = deterministic_differences(*dirs)
    named = _excused_keys(dirs[0], dirs[2])
    leaks = [k for k in leaks if not any(k.startswith(prefix) for prefix in named)]
    assert leaks == [], f"shipped values set by the added record without noise: {leaks}"


# -- tables ---------------------------------------------------------------------------------------
TABLE_SCHEMA = """
version: 1
name: neighbours
draft: false
columns:
- {name: age, kind: integer, min: 18, max: 100}
- {name: weight, kind: continuous, min: 30, max: 200}
- {name: ward, kind: categorical, categories: [a, b, c, z]}
- {name: outcome, kind: categorical, role: label, categories: ["no", "yes"]}
"""
TINY_TABLE = {"steps": 2, "hidden_width": 8, "n_blocks": 1, "noise_multiplicity": 1,
              "secure_rng": False, "checkpoint_every": 100, "sample_steps": 2}


def _table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "age": rng.integers(20, 90, n),
        "weight": np.round(rng.normal(75, 12, n), 1),
        "ward": rng.choice(["a", "b", "c"], n),
        "outcome": rng.choice(["no", "yes"], n),
    })


def _plus_one(df: pd.DataFrame, weight: float) -> pd.DataFrame:
    # a new category value (ward z) and an extreme value (weight)
    extra = pd.DataFrame({"age": [99], "weight": [weight], "ward": ["z"], "outcome": ["yes"]})
    return pd.concat([df, extra], ignore_index=True)


def test_the_check_catches_an_exact_count_and_excuses_named_assumptions(tmp_path: Path) -> None:
    """A value set by the record count without noise is caught; noise-driven values and
    timestamps are not; an assumption the certificate names is excused only when it moved."""
    dirs = []
    for name, n, noisy, kind in (("d1", 80, 0.1, "integer"), ("d2", 80, 0.2, "integer"),
                                 ("e1", 81, 0.3, "categorical"), ("e2", 81, 0.4, "categorical")):
        d = tmp_path / name
        d.mkdir()
        cert = {"n_training_records": n, "epsilon": noisy, "created_at": name,
                "assumptions": [{"name": "kinds", "values": {"x": kind},
                                 "shipped_keys": ["schema.json.columns"]}]}
        (d / "certificate.json").write_text(json.dumps(cert))
        (d / "schema.json").write_text(json.dumps({"columns": [{"name": "x", "kind": kind}]}))
        dirs.append(d)
    assert deterministic_differences(*dirs) == [
        "certificate.json.assumptions[0].values.x", "certificate.json.n_training_records",
        "schema.json.columns[0].kind"]
    with pytest.raises(AssertionError, match="n_training_records"):
        _check(dirs)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["schema", "no-schema", "no-schema-kind-flips"])
def test_tables_plus_one_record_change_nothing_deterministically(tmp_path: Path, case: str) -> None:
    """In the last case the added record turns a small-integer code column (drafted as
    categorical) into an integer column: a change the certificate names as an assumption."""
    from synthgen.tabular.draft import SMALL_INTEGER_CODES
    from synthgen.tabular.train import train_tabular

    with_schema = case == "schema"
    base = _table()
    plus_one = _plus_one(base, 199.5 if with_schema else 4000.5)
    if case == "no-schema-kind-flips":
        codes = np.arange(len(base)) % SMALL_INTEGER_CODES + 1
        base = base.assign(grade=codes)
        plus_one = plus_one.assign(grade=[*codes, SMALL_INTEGER_CODES + 1])
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(TABLE_SCHEMA)

    def train(source: pd.DataFrame, out: Path) -> None:
        out.parent.mkdir(parents=True)
        csv = out.parent / "source.csv"
        source.to_csv(csv, index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_tabular(TrainRequest(
                source=csv, epsilon=10.0, out=out, seed=3, holdout=0.2, table_schema=schema_path if
                with_schema else None, target=None if with_schema else "outcome",
                overrides=TINY_TABLE,
            ))

    dirs = _train_four(train, base, plus_one, tmp_path)
    if case == "no-schema-kind-flips":  # the check has something to excuse here
        assert deterministic_differences(*dirs) != []
    _check(dirs)


# -- images ---------------------------------------------------------------------------------------
def _png_folder(root: Path, extra: bool) -> Path:
    from PIL import Image

    from tests.images.conftest import two_class_images

    images, labels = two_class_images(24, seed=4)
    for i, (image, label) in enumerate(zip(images, labels.reshape(-1), strict=True)):
        folder = root / ("left" if label == 0 else "right")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
    if extra:  # one more image, with extreme values (all white)
        Image.fromarray(np.full((28, 28), 255, np.uint8)).save(root / "right" / "zzz_extra.png")
    return root


@pytest.mark.slow
def test_images_plus_one_image_change_nothing_deterministically(tmp_path: Path) -> None:
    from synthgen.images.train import train_images
    from tests.images.conftest import TINY

    base = _png_folder(tmp_path / "src_d", extra=False)
    plus_one = _png_folder(tmp_path / "src_e", extra=True)
    overrides = {**TINY, "critic_steps": 2}

    def train(source: Path, out: Path) -> None:
        train_images(TrainRequest(
            source=source, epsilon=4.0, out=out, seed=2, max_steps=2, overrides=overrides,
        ))

    _check(_train_four(train, base, plus_one, tmp_path))
