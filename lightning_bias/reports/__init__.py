"""What a run writes besides the model: atomic artifacts in the run directory, the bias report, the pretrain report."""
