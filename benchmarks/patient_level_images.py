"""Record-level against patient-level privacy for images: BreastMNIST with pseudo-patients.

MedMNIST has no patient ids, so the benchmark declares pseudo-patients: the 624 images of
the training and validation splits, in file order, shuffled with ``--seed`` and cut into
consecutive groups whose sizes are drawn uniformly from 1..4 (numpy default_rng(seed)),
written to an ids file (``--entity-file``). The grouping ignores pixels and labels, so a
pseudo-patient may hold both classes; real patients' images are alike, which makes
patient-level privacy matter more than here, not less.

Both units train the same small U-Net for the same steps at the same epsilon, without the
class critic (it is record-level only): record level on the official split (546 train
images, the 78 validation images as holdout), patient level on the pool split by patient
(12.5% of patients held out, so about the same number of training images; the cap is 4
images per patient, so none are dropped). A record-level step samples 32 images in
expectation, a patient-level step 13 patients (about 32 images, 2.5 per patient), so both
see about as many images per step at about the same sample rate. Each then samples ``--samples`` images and the
validation's TSTR metric (``image_tstr_auc_ratio``: a small CNN trained on synthetic
images, ROC AUC on the official test split; TRTR the same with real training images)
is printed with the certificate and the median time per DP-SGD step:

    OMP_NUM_THREADS=1 python benchmarks/patient_level_images.py --epsilons 10 --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SOURCE = ROOT.parent / "shared" / "data" / "medmnist" / "breastmnist.npz"  # ../shared/data
# small enough for a CPU shared by several people; the same for both units
MODEL = {"base_channels": 16, "channel_mult": [1, 2, 2], "batch_size": 32,
         "noise_multiplicity": 2, "critic_epsilon_share": 0.0, "secure_rng": False,
         "sampling_steps": 10, "checkpoint_every": 10_000, "warmup_steps": 5}


def pseudo_patients(n_images: int, seed: int) -> np.ndarray:
    """One id per image: images shuffled, cut into groups of 1..4 (uniform sizes)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_images)
    ids = np.empty(n_images, dtype=object)
    start, patient = 0, 0
    while start < n_images:
        size = int(rng.integers(1, 5))
        ids[order[start : start + size]] = f"pseudo{patient:04d}"
        start, patient = start + size, patient + 1
    return ids.astype(str)


def run(unit: str, epsilon: float, args: argparse.Namespace, ids_file: Path, work: Path) -> dict:
    from benchmarks.image_studies.measure import study_options
    from synthgen.artifacts import PROVENANCE
    from synthgen.evaluate.images.files import load_image_model_files
    from synthgen.evaluate.images.inputs import ImageInputs
    from synthgen.evaluate.registry import image_metrics
    from synthgen.images.data import ImageSet
    from synthgen.images.sample import ImageModel, labels_for_counts
    from synthgen.images.train import train_images
    from synthgen.requests import TrainRequest

    out = work / f"{unit}-{epsilon:g}"
    options = (
        {"entity_file": ids_file, "max_records_per_entity": 4, "holdout": 0.125,
         "batch_size": args.patient_batch_size}
        if unit == "patient"
        else {}
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_images(TrainRequest(source=args.source, epsilon=epsilon, out=out,
                                           seed=args.seed, max_steps=args.steps,
                                           overrides=MODEL, **options))
    train_seconds = time.perf_counter() - started
    cert = result.certificate
    provenance = json.loads((result.private_dir / PROVENANCE).read_text())
    model = ImageModel.load(out)
    labels = labels_for_counts(model.counts_for(args.samples, None))
    synthetic = ImageSet(model.generate(labels, seed=args.seed), labels)
    files = load_image_model_files(out)
    inputs = ImageInputs.build(spec=files.spec, train=files.train, holdout=files.holdout,
                               test=files.test, synthetic=synthetic, seed=args.seed,
                               options=study_options(classifier_steps=args.classifier_steps,
                                                     networks=1))
    tstr = next(m for m in image_metrics() if m.name == "image_tstr_auc_ratio").evaluate(inputs)
    rows = {r["trained_on"]: r for r in tstr.details.get("rows", [])}
    return {
        "unit": unit, "epsilon_target": epsilon, "epsilon": cert.epsilon,
        "noise_multiplier": cert.noise_multiplier, "sample_rate": cert.sample_rate,
        "steps": cert.steps, "n_train_images": provenance["n_train"],
        "median_step_seconds": provenance["median_step_seconds"],
        "train_seconds": round(train_seconds, 1),
        "sampled_per_class": np.bincount(labels, minlength=files.spec.num_classes).tolist(),
        "tstr_roc_auc": rows.get("synthetic", {}).get("roc_auc"),
        "trtr_roc_auc": rows.get("real", {}).get("roc_auc"),
        "tstr_note": tstr.note or None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", default="10")
    parser.add_argument("--units", default="record,patient")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--classifier-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    # 13 patients of 2.5 images on average: about the 32 images a record-level step sees
    parser.add_argument("--patient-batch-size", type=int, default=13)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with np.load(args.source) as f:
        n_pool = len(f["train_labels"]) + len(f["val_labels"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ids = pseudo_patients(n_pool, args.seed)
        ids_file = Path(tmp) / "pseudo_patients.npy"
        np.save(ids_file, ids)
        sizes = np.unique(np.unique(ids, return_counts=True)[1], return_counts=True)
        print(f"{len(set(ids))} pseudo-patients for {n_pool} images; images per patient: "
              + ", ".join(f"{s}: {c}" for s, c in zip(*sizes, strict=True)))
        for epsilon in [float(e) for e in args.epsilons.split(",")]:
            for unit in args.units.split(","):
                results.append(run(unit, epsilon, args, ids_file, Path(tmp)))
                print(json.dumps(results[-1]), flush=True)
    print("\n| unit | epsilon | sigma | q | steps | train images | s/step | TSTR AUC | TRTR AUC |")
    print("|---|---|---|---|---|---|---|---|---|")
    def auc(x: float | None) -> str:  # None: the metric could not run (e.g. one class sampled)
        return "n/a" if x is None else f"{x:.3f}"

    for r in results:
        print(f"| {r['unit']} | {r['epsilon']:.2f} | {r['noise_multiplier']:.3f} | "
              f"{r['sample_rate']:.4f} | {r['steps']} | {r['n_train_images']} | "
              f"{r['median_step_seconds']:.3f} | {auc(r['tstr_roc_auc'])} | {auc(r['trtr_roc_auc'])} |")


if __name__ == "__main__":
    main()
