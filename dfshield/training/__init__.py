"""Training: data loading, trainer, feature bank, metrics and comparison."""
