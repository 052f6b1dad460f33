"""Evaluation, one floor below the engine: the forward pass and autocast policy that score a
batch (``evaluator``), predictions, metrics, results tables and plots, and perturbations."""
