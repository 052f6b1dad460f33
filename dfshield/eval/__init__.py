"""Evaluation: predictions and metrics, scoring checkpoints, perturbations, reports, extra test
sets, and the library behind ``dfshield predict`` and ``dfshield robustness``."""
