"""Validation of synthetic image releases, in the same framework as tables.

The metrics are ``synthgen.evaluate.metric.Metric`` classes (name, title, family,
direction, bounds) evaluated on one shared ``ImageInputs`` bundle, their results judged by
the same policy and gate, and the report built from the same ``Section`` blocks:

- ``files``: the image model directory, its private split and the synthetic ``.npz``
  (typed errors on bad input, before any work);
- ``inputs``: ``ImageValidationOptions`` (the cost of the CNNs) and ``ImageInputs`` (the
  splits, the synthetic images, and the classifier, features and nearest-neighbour
  searches several metrics share);
- ``classifier``: the small CNN (not DP: it runs on the steward's side only);
- ``utility`` (TSTR / TRTR with that CNN), ``fidelity`` (Frechet distance and
  precision / recall / density / coverage in the CNN's feature space), ``copies`` (exact
  and near copies of training images), ``distances`` (nearest-neighbour distances, train
  against holdout): the metrics;
- ``report``: the report sections (class-wise grids, closest pairs, histograms, tables);
- ``release``: ``evaluate_image_release``, which ``synthgen.evaluate.release
  .evaluate_release`` calls for image models.

Everything here reads real images: results are for the steward and auditors only
(docs/privacy.md#where-real-data-flows). torch is imported only in the functions that train or apply
the CNN.
"""
