"""End to end: train_images / sample_images, the model-directory contract, resume, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from synthgen.errors import (
    ConfigurationError,
    InputFileError,
    OutputError,
    SamplingError,
    TrainingCancelled,
)
from synthgen.images.sample import ImageModel, sample_images
from synthgen.images.train import train_images
from synthgen.privacy.accountant import RunAccountant, epsilon_for
from synthgen.requests import SampleOptions, TrainRequest
from tests.images.conftest import TINY, two_class_images

MODEL_FILES = {"config.json", "model.safetensors", "spec.json", "preprocessing.json",
               "accountant.json", "certificate.json", "run.json", "class_critic.safetensors"}


def _train(src: Path, out: Path, *, should_stop=None, **kwargs: object):
    overrides = {**TINY, **kwargs.pop("overrides", {})}  # type: ignore[dict-item]
    request = TrainRequest(
        source=src, out=out, overrides=overrides, **kwargs,
    )  # type: ignore[arg-type]
    return train_images(request, should_stop=should_stop)


@pytest.mark.slow
def test_model_directory_contract(tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = _train(tiny_npz, out, epsilon=8.0, max_steps=3)
    assert {p.name for p in out.iterdir()} == MODEL_FILES  # no training images, no staging
    config = json.loads((out / "config.json").read_text())
    assert config["modality"] == "image" and config["training"]["steps_run"] == 3
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["modality"] == "image" and cert["unit"] == "one image" and cert["private"]
    assert cert["steps"] == 3 and cert["noise_multiplicity"] == TINY["noise_multiplicity"]
    assert 0 < cert["epsilon"] <= 8.0 + 1e-9 and cert["preprocessing_epsilon"] > 0
    acc = RunAccountant.from_state_dict(json.loads((out / "accountant.json").read_text()))
    assert acc.epsilon(cert["delta"]) == pytest.approx(cert["epsilon"])
    assert cert["delta"] == pytest.approx(min(1e-5, 1 / (10 * 60)))
    from safetensors.torch import load_file

    assert all(not k.startswith(("x", "images")) for k in load_file(out / "model.safetensors"))
    private = result.private_dir
    assert private == tmp_path / "model.private"
    for name in ("train.npz", "holdout.npz", "test.npz", "training_log.jsonl", "load_report.json"):
        assert (private / name).exists(), name
    assert (private / "checkpoint" / "state.json").exists()
    log = [json.loads(line) for line in (private / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert set(log[0]) >= {"step", "loss", "epsilon", "lr"}
    # the log follows the generator; the class critic, trained after it, completes the total
    critic_only = [h for r in acc.other_runs for h in r["history"]]
    assert [r["name"] for r in acc.other_runs] == ["class_critic"]
    without_critic = epsilon_for([*acc.release_history, *acc.sgd_history], delta=cert["delta"])
    assert log[-1]["epsilon"] == pytest.approx(without_critic, rel=1e-9)
    assert cert["epsilon"] == pytest.approx(epsilon_for(
        [*acc.release_history, *critic_only, *acc.sgd_history], delta=cert["delta"]))
    assert log[-1]["epsilon"] < cert["epsilon"]
    run = json.loads((out / "run.json").read_text())
    # run.json leaves the private area: no exact count, no source hash, no path
    assert not {"n_train", "n_holdout", "n_test", "source", "source_sha256", "private_dir",
                "skipped_files"} & set(run)
    provenance = json.loads((private / "provenance.json").read_text())
    assert provenance["run_id"] == run["run_id"]
    assert provenance["n_train"] == 60 and provenance["n_holdout"] == 12 and provenance["n_test"] == 20
    assert cert["adjacency"] == "add/remove one record"
    assert cert["n_training_records_source"] == "dp_estimate"
    assert "record count" in [r["name"] for r in acc.releases]
    assert cert["sample_rate"] == pytest.approx(TINY["batch_size"] / cert["n_training_records"])


@pytest.mark.slow
def test_a_small_budget_raises_the_image_count_share(tiny_npz: Path, tmp_path: Path) -> None:
    """At epsilon 1 the DP count of training images gets the tables' growing share: its
    noise std stays within 25 images (a fixed 2% gave 148, more than BreastMNIST's N-hat
    could bear: 295 for 546 images)."""
    from synthgen.privacy.accountant import gaussian_noise_multiplier_for
    from synthgen.privacy.record_count import record_count_share

    out = tmp_path / "model"
    _train(tiny_npz, out, epsilon=1.0, max_steps=1, overrides={"critic_epsilon_share": 0.0})
    acc = RunAccountant.from_state_dict(json.loads((out / "accountant.json").read_text()))
    (count,) = [r for r in acc.releases if r["name"] == "record count"]
    share = record_count_share(1.0, None)
    assert share > 0.1
    assert count["noise_multiplier"] == pytest.approx(
        gaussian_noise_multiplier_for(epsilon=share * 1.0, delta=1e-5), rel=1e-6)
    assert count["noise_multiplier"] <= 25


@pytest.mark.slow
def test_training_learns_something(tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.images.data import ImageSet, to_model_range
    from synthgen.images.edm import EDMConfig, loss_per_example

    out = tmp_path / "model"
    _train(tiny_npz, out, epsilon=50.0, max_steps=40,
           overrides={"learning_rate": 5e-3, "ema_sigma_rel": 0.05, "batch_size": 16})
    model = ImageModel.load(out, device="cpu")
    test = ImageSet.load(tmp_path / "model.private" / "test.npz")
    x, y = to_model_range(test.images), torch.from_numpy(test.labels)

    def held_out_loss(denoiser: torch.nn.Module) -> float:
        g = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return float(loss_per_example(denoiser, x, y, multiplicity=16, cfg=EDMConfig(),
                                          generator=g).mean())

    trained = held_out_loss(model.denoiser)
    torch.manual_seed(0)  # the run's seed: the same initialisation
    from synthgen.images.edm import Denoiser
    from synthgen.images.unet import UNet, UNetConfig

    initial = held_out_loss(Denoiser(UNet(UNetConfig.from_json_dict(model.config["model"])),
                                     EDMConfig()))
    assert trained < 0.8 * initial, (trained, initial)


# a declared public count: two runs then choose the same q (a DP count is drawn per run)
DECLARED = {"public_record_count": 60}


@pytest.mark.slow
def test_resume_reaches_the_same_epsilon(tiny_npz: Path, tmp_path: Path) -> None:
    whole = _train(tiny_npz, tmp_path / "whole", epsilon=6.0, max_steps=6, overrides=DECLARED)
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] == 3

    with pytest.raises(TrainingCancelled) as cancelled:
        _train(tiny_npz, tmp_path / "parts", epsilon=6.0, max_steps=6, should_stop=stop_after_three,
               overrides=DECLARED)
    assert 0 < cancelled.value.epsilon_spent < whole.certificate.epsilon
    assert not (tmp_path / "parts").exists()  # no half-written model
    with pytest.raises(OutputError, match="--resume"):
        _train(tiny_npz, tmp_path / "parts", epsilon=6.0, max_steps=6, overrides=DECLARED)
    with pytest.raises(ConfigurationError, match="same --epsilon"):
        _train(tiny_npz, tmp_path / "parts", epsilon=7.0, max_steps=6, resume=True, overrides=DECLARED)
    resumed = _train(tiny_npz, tmp_path / "parts", epsilon=6.0, max_steps=6, resume=True, overrides=DECLARED)
    assert resumed.certificate.steps == 6
    assert resumed.certificate.epsilon == whole.certificate.epsilon
    assert resumed.certificate.noise_multiplier == whole.certificate.noise_multiplier
    log = (tmp_path / "parts.private" / "training_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4, 5, 6]
    run = json.loads((tmp_path / "parts" / "run.json").read_text())
    assert run["resumed_at_step"] == 3


def test_resume_without_checkpoint_is_an_error(tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="nothing to resume"):
        _train(tiny_npz, tmp_path / "m", epsilon=5.0, max_steps=2, resume=True)


@pytest.mark.slow
def test_infinite_epsilon_is_marked_not_private(tiny_npz: Path, tmp_path: Path) -> None:
    result = _train(tiny_npz, tmp_path / "m", epsilon=math.inf, max_steps=2)
    cert = result.certificate
    assert not cert.private and math.isinf(cert.epsilon) and cert.noise_multiplier is None
    saved = json.loads((tmp_path / "m" / "certificate.json").read_text())
    assert saved["epsilon"] == "Infinity" and saved["private"] is False


def test_tabular_options_and_unknown_overrides_are_refused(tiny_npz: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--schema"):
        train_images(TrainRequest(
            source=tiny_npz, epsilon=1.0, out=tmp_path / "a", table_schema="s.yaml",
        ))
    with pytest.raises(ConfigurationError, match="--target"):
        train_images(TrainRequest(source=tiny_npz, epsilon=1.0, out=tmp_path / "a", target="label"))
    with pytest.raises(ConfigurationError, match="unknown image option"):
        train_images(TrainRequest(
            source=tiny_npz, epsilon=1.0, out=tmp_path / "a", overrides={"colour": 1},
        ))
    with pytest.raises(ConfigurationError, match="critic_guidance_max_step"):
        train_images(TrainRequest(
            source=tiny_npz, epsilon=1.0, out=tmp_path / "a", overrides={"critic_guidance_max_step":
            0},
        ))
    with pytest.raises(InputFileError):
        train_images(TrainRequest(source=tmp_path / "missing.npz", epsilon=1.0, out=tmp_path / "a"))


@pytest.mark.slow
def test_sampling_outputs_counts_and_seeds(tiny_npz: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    _train(tiny_npz, model_dir, epsilon=5.0, max_steps=2)
    a = sample_images(model_dir, SampleOptions(
        rows=7, seed=3,
    ), out=tmp_path / "a.npz", batch_size=2)
    b = sample_images(model_dir, SampleOptions(
        rows=7, seed=3,
    ), out=tmp_path / "b.npz", batch_size=7)
    with np.load(a) as fa, np.load(b) as fb:
        assert fa["images"].shape == (7, 28, 28) and fa["images"].dtype == np.uint8
        assert fa["labels"].shape == (7, 1)
        assert np.abs(fa["images"].astype(int) - fb["images"].astype(int)).max() <= 1
        assert np.array_equal(fa["labels"], fb["labels"])
    c = sample_images(model_dir, SampleOptions(
        rows=None, class_counts={"0": 2, "1": 3}, sampler="ancestral", steps=4, guidance_scale=2.0,
    ), out=tmp_path / "c.npz")
    with np.load(c) as fc:
        assert fc["labels"][:, 0].tolist() == [0, 0, 1, 1, 1]
    folder = sample_images(model_dir, SampleOptions(
        rows=4, class_counts={"0": 1, "1": 3},
    ), out=tmp_path / "pngs")
    assert sorted(p.parent.name for p in folder.rglob("*.png")) == ["0", "1", "1", "1"]
    with pytest.raises(SamplingError, match="unknown class"):
        sample_images(model_dir, SampleOptions(
            rows=None, class_counts={"7": 1},
        ), out=tmp_path / "d.npz")
    with pytest.raises(SamplingError, match="unknown sampler"):
        sample_images(model_dir, SampleOptions(rows=2, sampler="magic"), out=tmp_path / "e.npz")


@pytest.mark.slow
def test_cli_train_and_sample_images(tiny_npz: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import synthgen.cli.sample
    import synthgen.cli.train  # noqa: F401
    from synthgen.cli.app import app

    runner = CliRunner()
    model_dir = tmp_path / "m"
    result = runner.invoke(app, ["train", str(tiny_npz), "--epsilon", "20", "--out", str(model_dir),
                                 "--max-steps", "2", "--batch-size", "8", "-K", "2",
                                 "--insecure-rng"])
    assert result.exit_code == 0, result.output
    assert "epsilon spent" in result.output
    assert json.loads((model_dir / "config.json").read_text())["modality"] == "image"
    out = tmp_path / "s.npz"
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out),
                                 "--steps", "3"])
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert f["images"].shape == (5, 28, 28)
        default_images = f["images"]
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--steps", "3", "--sampler", "euler"])
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert not np.array_equal(f["images"], default_images)  # another solver, same noise
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--sampler", "magic"])
    assert result.exit_code != 0 and "unknown sampler" in result.output
    # the class critic guides the sampler by default; --candidates 3 also chooses among 3
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--steps", "3", "--candidates", "3"])
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert f["images"].shape == (5, 28, 28) and not np.array_equal(f["images"], default_images)
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--candidates", "0"])
    assert result.exit_code != 0 and "candidates: Input should be greater" in result.output
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--steps", "3", "--candidates", "1", "--critic-guidance", "0"])
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        unguided = f["images"]
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--steps", "3", "--candidates", "1", "--critic-guidance", "5"])
    assert result.exit_code == 0, result.output
    with np.load(out) as f:
        assert not np.array_equal(f["images"], unguided)
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "5", "--out", str(out), "--force",
                                 "--critic-guidance", "-1"])
    assert result.exit_code != 0 and "critic_guidance: Input should be greater" in result.output
    result = runner.invoke(app, ["train", str(tiny_npz), "--epsilon", "1", "--out",
                                 str(tmp_path / "x"), "--schema", "s.yaml"])
    assert result.exit_code == 2 and "--schema applies to tables" in result.output
    result = runner.invoke(app, ["train", str(tiny_npz), "--epsilon", "1", "--out",
                                 str(tmp_path / "y"), "--init-from", str(model_dir)])
    assert result.exit_code == 2 and "not a public model" in result.output


@pytest.mark.slow
def test_time_limit_writes_the_model_with_the_epsilon_that_ran(tiny_npz: Path, tmp_path: Path) -> None:
    result = _train(tiny_npz, tmp_path / "m", epsilon=6.0, max_steps=50,
                    overrides={"time_limit_minutes": 1e-6})
    cert = result.certificate
    assert 1 <= cert.steps < 50 and cert.epsilon < 6.0
    assert any("time limit" in note for note in cert.notes)
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert run["stopped_at_time_limit"] == cert.steps


def _public_npz(path: Path, classes: int) -> Path:
    """Another source of the same image size: stands in for a public dataset."""
    rng = np.random.default_rng(99)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    np.savez(path, images=images, labels=(np.arange(40) % classes).astype(np.uint8).reshape(-1, 1))
    return path


@pytest.mark.slow
def test_init_from_a_public_model(tiny_npz: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from synthgen.images.pretrained import initialise_from_pretrained
    from synthgen.images.unet import UNet, UNetConfig

    public = _public_npz(tmp_path / "public.npz", classes=3)
    _train(public, tmp_path / "public_model", epsilon=math.inf, max_steps=3,
           overrides={"public_source": True})
    pre = load_file(tmp_path / "public_model" / "model.safetensors")

    config = json.loads((tmp_path / "public_model" / "config.json").read_text())["model"]
    net = UNet(UNetConfig.from_json_dict({**config, "num_classes": 2}))
    provenance = initialise_from_pretrained(net, tmp_path / "public_model",
                                            training_images=np.zeros((1, 28, 28), np.uint8))
    for name, value in net.state_dict().items():
        if name == "label_embedding.weight":  # every row, null label included, = public null row
            assert torch.equal(value, pre[name][-1].expand(3, -1))
        else:
            assert torch.equal(value, pre[name]), name
    assert provenance["source"] == "public.npz" and provenance["private"] is False

    result = _train(tiny_npz, tmp_path / "private_model", epsilon=8.0, max_steps=2,
                    overrides={"init_from": str(tmp_path / "public_model")})
    assert result.certificate.private and result.certificate.epsilon <= 8.0
    assert any("public.npz" in note and "assumed public" in note for note in result.certificate.notes)
    run = json.loads((tmp_path / "private_model" / "run.json").read_text())
    assert run["pretrained"]["weights_sha256"] == provenance["weights_sha256"]

    with pytest.raises(ConfigurationError, match="not a public model"):
        _train(tiny_npz, tmp_path / "again", epsilon=8.0, max_steps=1,
               overrides={"init_from": str(tmp_path / "private_model")})
    with pytest.raises(ConfigurationError, match="another architecture"):
        _train(tiny_npz, tmp_path / "wider", epsilon=8.0, max_steps=1,
               overrides={"init_from": str(tmp_path / "public_model"), "base_channels": 8})
    with pytest.raises(ConfigurationError, match="not a synthgen model"):
        _train(tiny_npz, tmp_path / "none", epsilon=8.0, max_steps=1,
               overrides={"init_from": str(tmp_path)})
    assert not (tmp_path / "again").exists() and not (tmp_path / "wider").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["vmap", "hooks"])
def test_conditioning_phase_trains_only_the_label_pathway_at_the_same_epsilon(
        tiny_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    import synthgen.images.session as session

    real_train_private = session.train_private
    calls: list[dict] = []

    def spy(state, data, **kw):  # type: ignore[no-untyped-def]
        net = state.denoiser.net
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        trainable = {n for n, p in net.named_parameters() if p.requires_grad}
        real_train_private(state, data, **kw)
        changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
        calls.append({"steps": kw["steps"], "trainable": trainable, "changed": changed,
                      "conditioning": set(net.conditioning_parameter_names()),
                      "clip": kw["cfg"].max_grad_norm})

    monkeypatch.setattr(session, "train_private", spy)
    phased = _train(tiny_npz, tmp_path / "phased", epsilon=8.0, max_steps=4,
                    overrides={"conditioning_phase": 0.5, "conditioning_max_grad_norm": 0.25,
                               "per_example_gradients": mode, **DECLARED})
    first, second = calls
    assert first["steps"] == 2 and second["steps"] == 2
    assert (first["clip"], second["clip"]) == (1.0, 0.25)
    assert first["trainable"] > second["trainable"] == second["conditioning"]
    assert {"label_embedding.weight"} < second["conditioning"]
    # the second phase moved the label pathway (noise reaches it) and nothing else
    assert second["changed"] == second["conditioning"]
    assert all(n in first["changed"] for n in first["trainable"])
    assert phased.certificate.steps == 4
    plain = _train(tiny_npz, tmp_path / "plain", epsilon=8.0, max_steps=4,
                   overrides={"per_example_gradients": mode, "conditioning_phase": 0.0, **DECLARED})
    assert phased.certificate.epsilon == pytest.approx(plain.certificate.epsilon, rel=1e-9)
    saved = json.loads((tmp_path / "phased" / "config.json").read_text())
    assert saved["training"]["conditioning_phase"] == 0.5
    assert any("steps 3-4 trained only the label pathway, clipped to C = 0.25" in n
               for n in phased.certificate.notes)


def test_conditioning_phase_out_of_range_is_refused(tiny_npz: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="conditioning_phase"):
        _train(tiny_npz, tmp_path / "a", epsilon=1.0, max_steps=2,
               overrides={"conditioning_phase": 1.0})
    with pytest.raises(ConfigurationError, match="conditioning_max_grad_norm"):
        _train(tiny_npz, tmp_path / "b", epsilon=1.0, max_steps=2,
               overrides={"conditioning_max_grad_norm": 0.0})


def _plain_npz(path: Path, n: int, *, extra_label: int | None = None) -> Path:
    """A plain images/labels file (no MedMNIST name, no declared classes); ``extra_label``
    adds one image whose label no other image has."""
    images, labels = two_class_images(n, 5)
    if extra_label is not None:
        images = np.concatenate([images, images[:1]])
        labels = np.concatenate([labels, [[extra_label]]]).astype(np.uint8)
    np.savez(path, images=images, labels=labels)
    return path


@pytest.mark.slow
def test_class_list_found_in_the_data_is_dp_selected(tmp_path: Path) -> None:
    """D and D plus one image with a label of its own: the shipped class list is the same,
    and what paid for it is in the accountant and on the certificate."""
    opts: dict = {"overrides": {"critic_epsilon_share": 0.0}, "holdout": 0.0, "max_steps": 1}
    d = _train(_plain_npz(tmp_path / "d.npz", 200), tmp_path / "d", epsilon=20.0, **opts)
    d1 = _train(_plain_npz(tmp_path / "d1.npz", 200, extra_label=5), tmp_path / "d1",
                epsilon=20.0, **opts)
    specs = [json.loads((r.model_dir / "spec.json").read_text()) for r in (d, d1)]
    assert specs[0] == specs[1] and specs[0]["class_names"] == ["0", "1"]
    assert not specs[0]["classes_declared"]
    for result in (d, d1):
        cert = result.certificate
        assert "class discovery" in [m["name"] for m in cert.mechanisms]
        acc = RunAccountant.from_state_dict(cert.accountant_history)
        assert acc.threshold_delta > 0 and cert.epsilon == pytest.approx(acc.epsilon(cert.delta))
        assert cert.epsilon <= 20.0 + 1e-9
        assert any("partition selection" in note for note in cert.notes)
        assert any("array shape" in a["name"] for a in cert.assumptions)  # size and channels
    train = np.load(d1.private_dir / "train.npz")
    assert set(train["labels"].reshape(-1).tolist()) == {0, 1}  # the lone label took no part


@pytest.mark.slow
def test_declared_classes_and_shape_need_no_selection_or_assumption(tmp_path: Path) -> None:
    result = _train(_plain_npz(tmp_path / "d.npz", 40), tmp_path / "m", epsilon=8.0,
                    max_steps=1, overrides={"classes": ["benign", "malignant"], "channels": 1,
                                            "image_size": 28, "critic_epsilon_share": 0.0})
    spec = json.loads((result.model_dir / "spec.json").read_text())
    assert spec["class_names"] == ["benign", "malignant"] and spec["classes_declared"]
    cert = result.certificate
    assert "class discovery" not in [m["name"] for m in cert.mechanisms]
    assert cert.assumptions == [] and cert.accountant_history["threshold_delta"] == 0


def _private_train_split(tiny_npz: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(tiny_npz) as f:
        return f["train_images"], f["train_labels"]


def _public_model(source: Path, out: Path, **overrides: object) -> Path:
    _train(source, out, epsilon=math.inf, max_steps=1, holdout=0.0,
           overrides={"public_source": True, "critic_epsilon_share": 0.0, **overrides})
    return out


@pytest.mark.slow
def test_init_from_refuses_a_public_model_that_saw_private_images(
        tiny_npz: Path, tmp_path: Path) -> None:
    """The public model records a hash of each image it saw; a private run whose training
    images meet that set is refused, whatever file the images came in."""
    from PIL import Image

    from synthgen.errors import PretrainingDataOverlap

    images, labels = _private_train_split(tiny_npz)
    # the private training split re-encoded: PNG class folders
    for i, (im, lab) in enumerate(zip(images, labels[:, 0], strict=True)):
        (tmp_path / "png" / str(lab)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(tmp_path / "png" / str(lab) / f"{i}.png")
    # a subset: 5 private images among 35 others
    public, public_labels = two_class_images(35, 123)
    subset = tmp_path / "subset.npz"
    np.savez(subset, images=np.concatenate([public, images[10:15]]),
             labels=np.concatenate([public_labels, labels[10:15]]),
             class_names=np.array(["0", "1"]))
    disjoint = tmp_path / "disjoint.npz"
    np.savez(disjoint, images=public, labels=public_labels, class_names=np.array(["0", "1"]))

    private_run = {"epsilon": 8.0, "max_steps": 1, "holdout": 0.0}
    for name, source in (("png", tmp_path / "png"), ("subset", subset)):
        model = _public_model(source, tmp_path / f"public_{name}")
        assert (model / "public_images.json").exists()
        with pytest.raises(PretrainingDataOverlap, match="also in this run's training set"):
            _train(tiny_npz, tmp_path / f"private_{name}",
                   overrides={"init_from": str(model)}, **private_run)
        assert not (tmp_path / f"private_{name}").exists()

    model = _public_model(disjoint, tmp_path / "public_disjoint")
    result = _train(tiny_npz, tmp_path / "private_ok", overrides={"init_from": str(model)},
                    **private_run)
    assert result.certificate.private
    assert any("public model" in a["name"] for a in result.certificate.assumptions)
    # no hash of a private image in the private model directory, and no image record at all
    from synthgen.images.pretrained import image_digest

    assert not (result.model_dir / "public_images.json").exists()
    shipped = "".join(p.read_text(errors="ignore") for p in result.model_dir.iterdir())
    assert not any(image_digest(im) in shipped for im in images)
    # a model without the record (this private one) is not a public model
    with pytest.raises(ConfigurationError, match="not a public model"):
        _train(tiny_npz, tmp_path / "again", overrides={"init_from": str(result.model_dir)},
               **private_run)


def test_public_source_needs_infinite_epsilon(tiny_npz: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="public_source"):
        _train(tiny_npz, tmp_path / "m", epsilon=8.0, max_steps=1,
               overrides={"public_source": True})


def test_cli_declarations_for_images(tiny_npz: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import synthgen.cli.sample
    import synthgen.cli.train  # noqa: F401
    from synthgen.cli.app import app

    def declared(text: str) -> object:
        return TrainRequest(source=tiny_npz, out=tmp_path / "m", epsilon=1.0, classes=text).classes

    assert declared("3") == 3 and declared("benign, malignant") == ("benign", "malignant")
    result = CliRunner().invoke(app, ["train", str(tiny_npz), "--epsilon", "1", "--out",
                                      str(tmp_path / "m"), "--public-source"])
    assert result.exit_code == 2 and "public_source" in result.output


@pytest.mark.slow
def test_resume_keeps_the_dp_class_list_and_pays_for_it_once(tmp_path: Path) -> None:
    source = _plain_npz(tmp_path / "d.npz", 200, extra_label=5)
    opts: dict = {"overrides": {"critic_epsilon_share": 0.0}, "holdout": 0.0, "max_steps": 4}
    calls = {"n": 0}

    def stop_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2

    with pytest.raises(TrainingCancelled):
        _train(source, tmp_path / "m", epsilon=20.0, should_stop=stop_after_two, **opts)
    result = _train(source, tmp_path / "m", epsilon=20.0, resume=True, **opts)
    cert = result.certificate
    assert [m["name"] for m in cert.mechanisms].count("class discovery") == 1
    assert cert.accountant_history["threshold_delta"] > 0 and cert.epsilon <= 20.0 + 1e-9
    assert json.loads((result.model_dir / "spec.json").read_text())["class_names"] == ["0", "1"]
