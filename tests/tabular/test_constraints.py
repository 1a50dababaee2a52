"""Cross-column constraints: schema validation, the safe formula parser, exact enforcement
at sampling, real rows that break a rule, and the rules a draft proposes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from synthgen.errors import ConstraintUnsatisfied, SchemaError
from synthgen.progress import ProgressEvent
from synthgen.requests import TrainRequest
from synthgen.tabular.constraint_redraw import RedrawTally, enforce
from synthgen.tabular.constraints import ConstraintSet
from synthgen.tabular.draft import draft_schema, draft_yaml
from synthgen.tabular.draft_constraints import propose_constraints
from synthgen.tabular.formula import evaluate_formula, parse_formula
from synthgen.tabular.model import TabularModel
from synthgen.tabular.schema import Schema
from synthgen.tabular.train import train_tabular
from tests.conftest import repeatable_privacy_noise

COLUMNS: list[dict[str, Any]] = [
    {"name": "edu", "kind": "categorical", "categories": ["HS", "BSc", "MSc"]},
    {"name": "edu_num", "kind": "integer", "min": 1, "max": 16},
    {"name": "a", "kind": "continuous", "min": 0, "max": 10},
    {"name": "b", "kind": "continuous", "min": 0, "max": 10},
    {"name": "total", "kind": "continuous", "min": 0, "max": 20},
    {"name": "sex", "kind": "categorical", "categories": ["F", "M"]},
    {"name": "x", "kind": "continuous", "min": 0, "max": 10},
    {"name": "y", "kind": "categorical", "role": "label", "categories": ["no", "yes"]},
]
MAPPING = {"HS": 9, "BSc": 13, "MSc": 14}
CONSTRAINTS: list[dict[str, Any]] = [
    {"type": "inequality", "low": "a", "high": "b"},
    {"type": "determined_by", "column": "edu_num", "by": "edu", "mapping": MAPPING},
    {"type": "formula", "column": "total", "expression": "a + b"},
    {
        "type": "conditional_range",
        "if": {"column": "sex", "equals": "M"},
        "then": {"column": "x", "max": 4},
    },
    {
        "type": "fixed_combinations",
        "columns": ["edu", "sex"],
        "combinations": [["HS", "F"], ["HS", "M"], ["BSc", "F"], ["BSc", "M"], ["MSc", "F"]],
    },
]


def schema_with(
    constraints: list[dict[str, Any]], columns: list[dict[str, Any]] = COLUMNS
) -> Schema:
    return Schema.from_dict(
        {"version": 1, "draft": False, "columns": columns, "constraints": constraints},
        source="test schema",
    )


def table(n: int, seed: int, broken: int = 0) -> pd.DataFrame:
    """Rows that keep every rule in CONSTRAINTS, the first ``broken`` made to break a <= b."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    edu = np.where(sex == "M", rng.choice(["HS", "BSc"], n), rng.choice(["HS", "BSc", "MSc"], n))
    a = rng.uniform(0, 5, n)
    b = a + rng.uniform(0, 3, n)
    a[:broken] = b[:broken] + 1
    return pd.DataFrame(
        {
            "edu": edu,
            "edu_num": pd.Series(edu).map(MAPPING).to_numpy(),
            "a": a,
            "b": b,
            "total": a + b,
            "sex": sex,
            "x": np.where(sex == "M", rng.uniform(0, 4, n), rng.uniform(0, 10, n)),
            "y": rng.choice(["no", "yes"], n),
        }
    )


# -- the schema ----------------------------------------------------------------------------------
def test_schema_constraints_round_trip_through_yaml(tmp_path: Path) -> None:
    schema = schema_with(CONSTRAINTS)
    path = tmp_path / "s.yaml"
    schema.save(path)
    again = Schema.load(path)
    assert again.constraints == schema.constraints
    assert [c["type"] for c in again.to_dict()["constraints"]] == [c["type"] for c in CONSTRAINTS]


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"type": "inequality", "low": "a", "high": "nope"}, "no column 'nope'"),
        ({"type": "inequality", "low": "a", "high": "sex"}, "'sex' is not numeric"),
        ({"type": "unique", "columns": ["a"]}, "needs a 'type'"),
        (
            {"type": "inequality", "low": "a", "high": "b", "strictly": True},
            "unknown key(s) strictly",
        ),
        ({"type": "inequality", "low": "a"}, "missing key(s) high"),
        (
            {"type": "determined_by", "column": "edu_num", "by": "edu", "mapping": {"HS": "nine"}},
            "map to numbers",
        ),
        (
            {"type": "determined_by", "column": "sex", "by": "edu", "mapping": {"HS": "X"}},
            "not one of the declared categories of 'sex'",
        ),
        ({"type": "determined_by", "column": "y", "by": "edu", "mapping": {"HS": "no"}}, "label"),
        (
            {
                "type": "fixed_combinations",
                "columns": ["edu", "sex"],
                "combinations": [["PhD", "F"]],
            },
            "not one of the declared categories of 'edu'",
        ),
        (
            {
                "type": "conditional_range",
                "if": {"column": "sex", "equals": "M"},
                "then": {"column": "x"},
            },
            "needs a 'min', a 'max' or both",
        ),
        ({"type": "formula", "column": "total", "expression": "a + sex"}, "'sex' is not numeric"),
        ({"type": "formula", "column": "total", "expression": "total + 1"}, "reads itself"),
    ],
)
def test_schema_refuses_bad_constraints_with_a_clear_error(constraint: dict, message: str) -> None:
    with pytest.raises(SchemaError, match="test schema") as caught:
        schema_with([constraint])
    assert message in str(caught.value)


def test_schema_refuses_a_column_computed_twice_or_in_a_cycle() -> None:
    twice = [
        {"type": "formula", "column": "total", "expression": "a + b"},
        {"type": "formula", "column": "total", "expression": "a - b"},
    ]
    with pytest.raises(SchemaError, match="twice"):
        schema_with(twice)
    cycle = [
        {"type": "formula", "column": "total", "expression": "a + x"},
        {"type": "formula", "column": "b", "expression": "total / 2"},
        {"type": "formula", "column": "x", "expression": "b - 1"},
    ]
    with pytest.raises(SchemaError, match="in a cycle") as info:
        schema_with(cycle)
    assert "'total' from 'x'" in str(info.value) and "'x' from 'b'" in str(info.value)
    assert "'b' from 'total'" in str(info.value)


def test_a_model_schema_with_a_discovered_domain_keeps_rules_naming_merged_values() -> None:
    """A model's schema lists the categories DP kept, plus "(other)": a rule naming a value
    that was merged must not make the model's schema unreadable."""
    from synthgen.tabular.preprocess import OTHER

    columns = [dict(c) for c in COLUMNS]
    columns[0]["categories"] = ["HS", "BSc", OTHER]  # MSc was merged by DP selection
    assert len(schema_with(CONSTRAINTS, columns).constraints) == len(CONSTRAINTS)
    columns[0]["categories"] = ["HS", "BSc"]  # declared by a person: MSc is a typo
    with pytest.raises(SchemaError, match="not one of the declared categories of 'edu'"):
        schema_with(CONSTRAINTS, columns)


def test_identifier_columns_cannot_be_constrained() -> None:
    columns = [*COLUMNS, {"name": "id", "role": "identifier"}]
    with pytest.raises(SchemaError, match="'id' is an identifier column"):
        schema_with([{"type": "inequality", "low": "a", "high": "id"}], columns)


# -- the formula parser --------------------------------------------------------------------------
def test_formula_evaluates_arithmetic_with_precedence() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b c": [4.0, 0.5, 1.0]})
    got = evaluate_formula(parse_formula("-a + `b c` * 2 / (a - 3) - 1.5e1"), df)
    a, bc = df["a"].to_numpy(), df["b c"].to_numpy()
    np.testing.assert_allclose(got, -a + bc * 2 / (a - 3) - 15.0)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "a ** 2",
        "a.real",
        "abs(a)",
        "a < b",
        "a; b",
        "'text'",
        "a +",
        "(a + b",
        "a b",
        "(" * 40 + "a" + ")" * 40,
        "a + " * 200 + "a",
        "",
    ],
)
def test_formula_parser_rejects_anything_but_arithmetic(text: str) -> None:
    with pytest.raises(SchemaError):
        parse_formula(text)


# -- enforcement ------------------------------------------------------------------------------------
def test_enforce_redraws_broken_rows_and_counts_them() -> None:
    schema = schema_with([{"type": "inequality", "low": "a", "high": "b"}])
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    rng = np.random.default_rng(0)

    def draw(labels: np.ndarray, round_: int) -> pd.DataFrame:
        r = np.random.default_rng([round_, len(labels)])
        return pd.DataFrame(
            {"a": r.uniform(0, 1, len(labels)), "b": r.uniform(0, 1, len(labels)), "y": labels}
        )

    labels = rng.integers(0, 2, 1000)
    frame = draw(labels, 0)
    truth = int((frame["a"] > frame["b"]).sum())
    tally = RedrawTally()
    kept = enforce(frame, labels, rules, draw, tally=tally)
    assert not (kept["a"] > kept["b"]).any()
    assert (kept["y"].to_numpy() == labels).all()  # every row keeps its class
    assert tally.rows == 1000 and tally.redrawn == truth
    assert tally.draws > 1000 + truth  # candidates that broke the rule again were drawn too
    untouched = frame["a"] <= frame["b"]
    assert kept[untouched].equals(frame[untouched])


# declared against the dependency order: edu -> edu_num -> x -> total
CHAIN: list[dict[str, Any]] = [
    {"type": "formula", "column": "total", "expression": "x + a"},
    {"type": "formula", "column": "x", "expression": "edu_num - 5"},
    {"type": "determined_by", "column": "edu_num", "by": "edu", "mapping": MAPPING},
    {"type": "inequality", "low": "a", "high": "b"},
    {"type": "inequality", "low": "b", "high": "total"},  # b <= total, total computed
]


def _draw_free(labels: np.ndarray, round_: int) -> pd.DataFrame:
    """Rows that know none of the rules: computed columns hold junk until filled."""
    r = np.random.default_rng([round_, len(labels), 7])
    n = len(labels)
    return pd.DataFrame(
        {
            "edu": r.choice(["HS", "BSc", "MSc"], n),
            "edu_num": r.integers(1, 17, n),
            "a": r.uniform(0, 10, n),
            "b": r.uniform(0, 10, n),
            "total": r.uniform(0, 20, n),
            "sex": r.choice(["F", "M"], n),
            "x": r.uniform(0, 10, n),
            "y": labels,
        }
    )


def test_a_chain_of_computed_columns_is_filled_in_dependency_order() -> None:
    schema = schema_with(CHAIN)
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    labels = np.random.default_rng(1).integers(0, 2, 500)
    tally = RedrawTally()
    kept = enforce(_draw_free(labels, 0), labels, rules, _draw_free, tally=tally)
    expected_num = kept["edu"].map(MAPPING).to_numpy()
    assert (kept["edu_num"].to_numpy() == expected_num).all()
    assert np.array_equal(kept["x"].to_numpy(), expected_num - 5.0)
    assert np.allclose(kept["total"], kept["x"] + kept["a"], rtol=0, atol=1e-12)
    assert (kept["a"] <= kept["b"]).all() and (kept["b"] <= kept["total"]).all()
    assert not rules.broken_rows(kept).any()
    # only the inequalities redraw rows: the chain itself holds by construction
    first, _ = rules.construct(_draw_free(labels, 0))
    inequalities_broken = (first["a"] > first["b"]) | (first["b"] > first["total"])
    assert tally.redrawn == int(inequalities_broken.sum()) > 0


def test_enforce_raises_when_a_rule_cannot_be_met() -> None:
    schema = schema_with([{"type": "inequality", "low": "a", "high": "b", "strict": True}])
    rules = ConstraintSet.of(schema.constraints, schema.columns)

    def draw(labels: np.ndarray, round_: int) -> pd.DataFrame:
        return pd.DataFrame({"a": np.ones(len(labels)), "b": np.ones(len(labels))})

    labels = np.zeros(10, dtype=int)
    with pytest.raises(ConstraintUnsatisfied, match="a < b"):
        enforce(draw(labels, 0), labels, rules, draw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, Schema]:
    out = tmp_path_factory.mktemp("constraints") / "model"
    df = table(400, seed=0, broken=5)
    schema = schema_with(CONSTRAINTS)
    with repeatable_privacy_noise(0), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_tabular(
            TrainRequest(
                source=df,
                table_schema=schema,
                epsilon=8.0,
                out=out,
                max_steps=10,
                holdout=0.0,
                seed=0,
                overrides={"secure_rng": False},
            )
        )
    return out, df, schema


@pytest.mark.slow
def test_sampled_rows_keep_every_declared_constraint(trained) -> None:
    out, _, schema = trained
    model = TabularModel.load(out)
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    events: list[ProgressEvent] = []
    tally = RedrawTally()
    sample = model.sample(3000, seed=4, tally=tally, progress=events.append)
    assert {rule: int(m.sum()) for rule, m in rules.broken_by_each(sample).items()} == {
        rule: 0 for rule in rules.broken_by_each(sample)
    }
    assert (sample["edu_num"] == sample["edu"].map(MAPPING)).all()
    np.testing.assert_allclose(sample["total"], sample["a"] + sample["b"])
    assert tally.rows == 3000 and tally.redrawn > 0
    assert "redrew" in events[-1].message
    # the same model without the rules breaks them: the check above could fail
    model.constraints = ConstraintSet(())
    raw = model.sample(3000, seed=4)
    assert rules.broken_rows(raw).mean() > 0.05


@pytest.mark.slow
def test_constrained_sampling_is_reproducible_by_seed(trained) -> None:
    model = TabularModel.load(trained[0])
    first = model.sample(500, seed=7)
    assert first.equals(model.sample(500, seed=7))
    assert not first.equals(model.sample(500, seed=8))


@pytest.mark.slow
def test_sampling_processes_keep_the_constraints_and_the_rows_of_one_process(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.requests import SampleOptions
    from synthgen.tabular import model as tabular_model
    from synthgen.tabular.sample import sample_tabular

    monkeypatch.setattr(tabular_model, "CHUNK_ROWS", 300)  # 3 chunks over 2 processes
    out, _, schema = trained
    events: list[ProgressEvent] = []
    one = sample_tabular(out, SampleOptions(rows=800, seed=3), out=tmp_path / "one.csv")
    two = sample_tabular(
        out, SampleOptions(rows=800, seed=3, processes=2), out=tmp_path / "two.csv",
        progress=events.append,
    )
    assert one.read_text() == two.read_text()
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    assert not rules.broken_rows(pd.read_csv(two)).any()
    assert "redrew" in events[-1].message  # the workers' redraws reach the progress line


@pytest.mark.slow
def test_real_rows_breaking_a_constraint_are_dropped_before_training(trained) -> None:
    out, df, schema = trained
    private = out.parent / "model.private"
    provenance = json.loads((private / "provenance.json").read_text())
    rules = ConstraintSet.of(schema.constraints, schema.columns)
    truth = {rule: int(m.sum()) for rule, m in rules.broken_by_each(df).items()}
    assert truth["a <= b"] == 5 and sum(truth.values()) == 5  # table() broke a <= b only
    assert provenance["rows_breaking_constraints"] == truth
    train = pd.read_parquet(private / "train.parquet")
    assert len(train) == len(df) - 5
    assert not rules.broken_rows(train).any()
    # nothing shipped says how many: the model directory's files never carry the count
    for path in out.iterdir():
        if path.suffix == ".json":
            assert "rows_breaking_constraints" not in path.read_text()


# -- the draft -------------------------------------------------------------------------------------
def test_draft_proposes_the_education_pair_and_a_part_whole_inequality() -> None:
    rng = np.random.default_rng(1)
    n = 500
    names = "Preschool 1st-4th 5th-6th 7th-8th 9th 10th 11th 12th HS-grad Some-college Assoc-voc"
    levels = {name: i for i, name in enumerate(names.split(), start=1)}  # 11 codes: an integer
    education = rng.choice(list(levels), n)
    total = rng.gamma(2.0, 2.0, n)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "education": education,
            "education-num": [levels[e] for e in education],
            "direct": total * rng.uniform(0.1, 0.9, n),  # a part of total
            "total": total,
            "hours": rng.integers(1, 99, n),  # unrelated to everything
        }
    )
    schema = draft_schema(df)
    proposals = propose_constraints(df, schema)
    described = {p.constraint.describe() for p in proposals}
    assert described == {"education-num determined by education", "direct <= total"}
    mapping = next(
        p.constraint for p in proposals if p.constraint.describe().startswith("education")
    )
    assert dict(mapping.mapping) == levels
    text = draft_yaml(schema, source="t.csv", proposals=proposals)
    assert "direct <= total: 0 of 500" in text
    reviewed = Schema.from_dict({**yaml.safe_load(text), "draft": False})
    assert len(reviewed.constraints) == 2
    assert draft_schema(df).constraints == ()  # a run without a schema never gets them


def test_draft_does_not_propose_a_mapping_for_near_unique_labels() -> None:
    n = 60
    df = pd.DataFrame({"code": [f"c{i}" for i in range(n)], "value": np.arange(n) * 1.5})
    schema = draft_schema(df)
    assert propose_constraints(df, schema) == []


# -- validation --------------------------------------------------------------------------------------
def test_violation_metric_counts_broken_rows_in_synthetic_and_real() -> None:
    from synthgen.evaluate.fidelity.constraint_violations import ConstraintViolationShare
    from synthgen.evaluate.inputs import TabularInputs

    schema = schema_with(CONSTRAINTS)
    real = table(200, seed=2, broken=4)
    synthetic = table(300, seed=3)
    synthetic.loc[:8, "edu_num"] = 1  # 9 rows contradict the mapping
    synthetic.loc[5:14, "sex"] = "M"  # rows 5-14: some become MSc/M or x > 4 for M
    truth = ConstraintSet.of(schema.constraints, schema.columns).broken_rows(synthetic)
    result = ConstraintViolationShare().evaluate(
        TabularInputs.build(schema=schema, train=real, synthetic=synthetic)
    )
    assert result.value == pytest.approx(truth.mean())
    assert result.value >= 9 / 300
    rules = result.details["constraints"]
    assert rules["edu_num determined by edu"]["synthetic_share"] == pytest.approx(9 / 300)
    assert rules["a <= b"]["real_share"] == pytest.approx(4 / 200)
    assert result.details["real_share"] == pytest.approx(4 / 200)


def test_violation_metric_is_unavailable_without_constraints() -> None:
    from synthgen.evaluate.fidelity.constraint_violations import ConstraintViolationShare
    from synthgen.evaluate.inputs import TabularInputs

    schema = schema_with([])
    real = table(50, seed=2)
    result = ConstraintViolationShare().evaluate(
        TabularInputs.build(schema=schema, train=real, synthetic=real)
    )
    assert result.value is None


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_draft_proposes_and_check_counts_rows_breaking_constraints(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    data = tmp_path / "t.csv"
    table(300, seed=6, broken=3).drop(columns=["edu_num", "total"]).to_csv(data, index=False)
    draft = CliRunner().invoke(app, ["schema", "draft", str(data)])
    assert draft.exit_code == 0, draft.output
    assert "a <= b: 3 of 300" in draft.stdout
    assert yaml.safe_load(draft.stdout)["constraints"] == [
        {"type": "inequality", "low": "a", "high": "b"}
    ]
    schema_path = tmp_path / "s.yaml"
    columns = [c for c in COLUMNS if c["name"] not in ("edu_num", "total")]
    schema_with([CONSTRAINTS[0]], columns).save(schema_path)
    check = CliRunner().invoke(app, ["schema", "check", str(data), "--schema", str(schema_path)])
    assert check.exit_code == 0, check.output
    assert "3 rows break a <= b (dropped before training)" in check.stdout


@pytest.mark.slow
def test_a_real_row_breaking_a_constraint_changes_no_shipped_value(tmp_path: Path) -> None:
    """Dropped before anything is counted or learnt: D and D plus one row that breaks a rule
    (trained with the same noise streams) ship no value that differs between them except
    through the privacy noise (the neighbouring check of tests/privacy)."""
    from tests.privacy.test_neighbouring import TINY_TABLE, _check, _train_four

    schema = schema_with(CONSTRAINTS)
    base = table(120, seed=8)
    plus_one = pd.concat([base, table(1, seed=9, broken=1)], ignore_index=True)

    def train(source: pd.DataFrame, out: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_tabular(
                TrainRequest(
                    source=source, table_schema=schema, epsilon=8.0, out=out, seed=3,
                    holdout=0.0, overrides=TINY_TABLE,
                )
            )

    dirs = _train_four(train, base, plus_one, tmp_path)
    _check(dirs)
    # stronger: with the same noise stream, D and D plus the broken row train the same model
    from safetensors.torch import load_file

    weights = [load_file(d / "model.safetensors") for d in dirs]

    def same(a: dict, b: dict) -> bool:
        return a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)

    assert same(weights[0], weights[2]) and same(weights[1], weights[3])
    assert not same(weights[0], weights[1])  # the noise streams differ: the check can fail
    provenance = json.loads((dirs[2].parent / "model.private" / "provenance.json").read_text())
    assert provenance["rows_breaking_constraints"]["a <= b"] == 1


@pytest.mark.slow
def test_a_sample_passes_the_rule_expectations_of_its_model_and_a_free_one_fails(
    trained, tmp_path: Path
) -> None:
    """The release contract reads the model's schema: each declared rule is one expectation,
    kept by a sample with the rules and broken by one drawn without them."""
    from synthgen.tabular.expectations import check_synthetic_table
    from synthgen.tabular.io import read_table
    from synthgen.tabular.model import SCHEMA_FILE

    out, _, _ = trained
    model_schema = Schema.from_dict(json.loads((out / SCHEMA_FILE).read_text()))
    model = TabularModel.load(out)

    def rule_outcomes(sample: pd.DataFrame) -> dict[str, bool]:
        sample.to_csv(tmp_path / "s.csv", index=False)
        results = check_synthetic_table(read_table(tmp_path / "s.csv"), model_schema)
        return {o.spec.rule: o.success for o in results.outcomes if o.spec.rule}

    kept = rule_outcomes(model.sample(2000, seed=5))
    assert len(kept) == len(CONSTRAINTS) and all(kept.values())
    model.constraints = ConstraintSet(())
    assert not all(rule_outcomes(model.sample(2000, seed=5)).values())
