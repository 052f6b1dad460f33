"""Scoring checkpoints, above the engine: ``test``, extra test sets, ``predict``, ``robustness``."""
