"""Training plumbing both modalities share: weight averaging, the training log, resuming."""
