"""Start DP training from a model trained on public images (``init_from``).

A DP run on a few hundred images learns little beyond what its noisy steps allow; a network
that already denoises images of the same size and channels (trained on public data, e.g.
another MedMNIST set) can spend those steps on what is specific to the private source.
Public pretraining with DP fine-tuning is what worked best for DP diffusion on CIFAR-10 and
medical images (Ghalebikesabi et al. 2023). Measured here (docs/images.md): pretraining on
PneumoniaMNIST improved BreastMNIST's Frechet distance and recall but not its TSTR AUC, so
it is an option, not the default.

Privacy: the initial weights are a constant of this run. The guarantee covers the private
source only if the pretraining data is public (or its own owner accounted for it); the
certificate names the model used, and a model trained on this same source is refused,
since its cost would not be composed here.

Class semantics do not carry over from one source to another, so every class row of the
label embedding starts from the pretrained null-label row: each class begins as the
public model's unconditional denoiser, and fine-tuning separates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.artifacts import (
    CERTIFICATE,
    CONFIG,
    RUN,
    WEIGHTS,
    default_private_dir,
    file_sha256,
    read_json,
    read_provenance,
    read_weights,
)
from synthgen.errors import ConfigurationError, ModelLoadError

# architecture keys that must match; the class count may differ
_SHAPE_KEYS = ("image_channels", "image_size", "base_channels", "channel_mult", "blocks_per_level",
               "attention_levels", "attention_head_channels", "embedding_mult", "max_groups")
LABEL_EMBEDDING = "label_embedding.weight"


def initialise_from_pretrained(net: Any, model_dir: str | Path, *, source_sha256: str) -> dict[str, Any]:
    """Load ``model_dir``'s weights into ``net`` (a fresh UNet) and return their provenance."""
    import torch

    d = Path(model_dir)
    try:
        config = read_json(d / CONFIG)
        run = read_json(d / RUN)
        certificate = read_json(d / CERTIFICATE)
    except (FileNotFoundError, ModelLoadError) as exc:
        raise ConfigurationError(f"init_from: {d} is not a synthgen model directory") from exc
    if config.get("modality") != "image":
        raise ConfigurationError(f"init_from: {d} is not an image model")
    # the source's hash lives in the public model's private provenance (run.json holds
    # public values only); older model directories kept it in run.json
    run = {**read_provenance(default_private_dir(d)), **{k: v for k, v in run.items() if v is not None}}
    if run.get("source_sha256") == source_sha256:
        raise ConfigurationError(
            f"init_from: {d} was trained on this same source; its privacy cost would not be "
            "accounted here - start from a model trained on public images")
    theirs, ours = config.get("model", {}), net.cfg.to_json_dict()
    different = [k for k in _SHAPE_KEYS if theirs.get(k) != ours[k]]
    if different:
        shown = ", ".join(f"{k} {theirs.get(k)} vs {ours[k]}" for k in different)
        raise ConfigurationError(f"init_from: {d} has another architecture ({shown})")
    try:
        state = read_weights(d / WEIGHTS)
    except ModelLoadError as exc:
        raise ConfigurationError(f"init_from: {exc}") from exc
    null_row = state.pop(LABEL_EMBEDDING)[-1]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if set(missing) != {LABEL_EMBEDDING} or unexpected:
        raise ConfigurationError(f"init_from: {d / WEIGHTS} does not fit this network")
    with torch.no_grad():
        net.label_embedding.weight.copy_(null_row.expand_as(net.label_embedding.weight))
    return {
        "model_dir": str(d.resolve()), "weights_sha256": file_sha256(d / WEIGHTS),
        "source": Path(str(run.get("source", "?"))).name, "source_sha256": run.get("source_sha256"),
        "epsilon": certificate.get("epsilon"), "private": certificate.get("private"),
        "steps": certificate.get("steps"),
    }
