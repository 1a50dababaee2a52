"""Membership inference: can an attacker holding the synthetic table tell whether a record
was in the training set?

Members are training records; non-members are holdout records the model never saw (equal
numbers, up to 5,000 each). Two attacks score every candidate record x, and each is
summarised by its ROC AUC at separating members from non-members (0.5: no better than a
coin; 1: every member is recognised):

- distance: -d(x, closest synthetic row). Generative models that memorise put synthetic
  rows on or near their training records (Chen et al. 2020, "GAN-Leaks"; Hilprecht et al.
  2019, "Monte Carlo and reconstruction membership inference attacks").
- density ratio (DOMIAS, van Breugel et al. 2023, "Membership inference attacks against
  synthetic data through overfitting detection"): p_synthetic(x) / p_reference(x), the
  synthetic density relative to the population density estimated from a reference sample
  of real records (the other half of the holdout, disjoint from the non-members). Local
  overfitting shows as synthetic density above population density. The densities are
  k-nearest-neighbour estimates with k = 1, p(x) ∝ 1 / (n d_1(x)^D); the ratio then ranks
  records by log d_ref(x) - log d_syn(x), and D and n drop out of the ranking.

The metric is the larger of the two AUCs (the strongest attack run). With the holdout as
non-members the attacker knows more than a real one would (exact population samples), so
this is a conservative bug detector; it is not an estimate of epsilon.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.evaluate.inputs import TabularInputs, TabularMetric
from synthgen.evaluate.metric import MetricResult

DISTANCE_FLOOR = 1e-6  # distances are in units of whole columns; below this is "identical"
ROC_POINTS = 101


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Hanley and McNeil (1982) standard error of a ROC AUC."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (
        auc * (1 - auc) + (n_positive - 1) * (q1 - auc**2) + (n_negative - 1) * (q2 - auc**2)
    ) / (n_positive * n_negative)
    return float(np.sqrt(max(var, 0.0)))


def roc_points(is_member: np.ndarray, score: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve sampled at ROC_POINTS false-positive rates."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(is_member, score)
    grid = np.linspace(0, 1, ROC_POINTS)
    return {"fpr": grid.tolist(), "tpr": np.interp(grid, fpr, tpr).tolist()}


class MembershipInferenceAUC(TabularMetric):
    name = "membership_inference_auc"
    title = "Membership inference ROC AUC (strongest attack)"
    family = "privacy"
    direction = "lower_is_better"
    bounds = (0.0, 1.0)
    ideal = 0.5
    description = "ROC AUC of the stronger of a distance attack and a DOMIAS-style density-ratio attack, members = train, non-members = holdout"

    def evaluate(self, inputs: TabularInputs) -> MetricResult:
        from sklearn.metrics import roc_auc_score

        if inputs.holdout is None or len(inputs.holdout) < 4:
            return self.unavailable("the holdout split is too small (needs at least 4 rows)")
        if len(inputs.synthetic) == 0:
            return self.unavailable("the synthetic table is empty")
        d_syn = np.concatenate(
            [
                inputs.nearest("members", "synthetic", 1)[0][:, 0],
                inputs.nearest("nonmembers", "synthetic", 1)[0][:, 0],
            ]
        )
        d_ref = np.concatenate(
            [
                inputs.nearest("members", "attack_reference", 1)[0][:, 0],
                inputs.nearest("nonmembers", "attack_reference", 1)[0][:, 0],
            ]
        )
        n_members = len(inputs.subset("members")[1])
        n_nonmembers = len(inputs.subset("nonmembers")[1])
        is_member = np.concatenate([np.ones(n_members), np.zeros(n_nonmembers)])
        attacks = {
            "distance": -d_syn,
            "density_ratio": np.log(d_ref + DISTANCE_FLOOR) - np.log(d_syn + DISTANCE_FLOOR),
        }
        details: dict[str, Any] = {"members": n_members, "nonmembers": n_nonmembers, "attacks": {}}
        for attack, score in attacks.items():
            auc = float(roc_auc_score(is_member, score))
            details["attacks"][attack] = {
                "roc_auc": auc,
                "standard_error": auc_standard_error(auc, n_members, n_nonmembers),
                "roc": roc_points(is_member, score),
            }
        strongest = max(details["attacks"], key=lambda a: details["attacks"][a]["roc_auc"])
        details["strongest"] = strongest
        details["members_with_a_synthetic_copy"] = int((d_syn[:n_members] <= DISTANCE_FLOOR).sum())
        details["nonmembers_with_a_synthetic_copy"] = int(
            (d_syn[n_members:] <= DISTANCE_FLOOR).sum()
        )
        return self.result(details["attacks"][strongest]["roc_auc"], details=details)
