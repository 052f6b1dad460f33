"""Scoring checkpoints, one floor above the engine: ``dfshield test`` (``evaluate_checkpoint``),
extra test sets, the ``Scorer`` of new media, ``predict`` and ``robustness``."""
