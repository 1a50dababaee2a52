"""Image benchmarks and post-training studies (research: they read real splits, so they run
inside the private area, and nothing here ships with the product).

- ``driver``: the benchmark run behind ``benchmarks/images_cpu.py`` and ``images_gpu.py``;
- ``measure``: the release validation's image metrics, read the way the benchmark prints them;
- ``sampling_study``, ``utility_study``, ``class_signal``: studies of one trained model
  (sampler settings; the downstream CNN recipe, chosen on the holdout; the model itself as
  a classifier).
"""
