"""Training plumbing both modalities share: weight averages (EMA) and the training log."""
