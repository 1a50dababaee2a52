"""Differentially private class-conditional diffusion for medical images.

One module per stage, split along the paper's seams (EDM, Karras et al. 2022; DPDM,
Dockhorn et al. 2023):

- ``spec`` (the image equivalent of a table schema), ``data`` (image sets, splits, npz IO),
  ``loaders`` (MedMNIST .npz, PNG/JPEG class folders, DICOM + labels CSV), ``medmnist``
  (official download with checksum, user cache);
- ``unet`` (the network F), ``edm`` (preconditioning D(x; sigma, label) and the per-example
  loss), ``samplers`` (deterministic and stochastic reverse processes), ``ema``;
- ``per_example`` (per-example gradients of the K-draw loss), ``trainer`` (DP-SGD with
  noise multiplicity through the shared privacy machinery), ``checkpoint``, ``config`` (the
  recipe and its defaults), ``train`` / ``sample`` (the model-directory entry points behind
  ``synthgen train`` and ``synthgen sample``), ``output`` (npz and PNG folders);
- ``step_timing`` (a DP step's seconds, to size a run to a time budget) and ``demo``.
  Validation metrics are in ``synthgen.evaluate.images``; studies in ``benchmarks/``.

Importing this package is cheap; torch and opacus are imported by the modules that need them.
"""
