"""Evaluation: the one evaluator (``evaluator``: forward pass, autocast policy, scoring splits,
``dfshield test``), predictions and metrics, scoring checkpoints on new media (``inference``),
perturbations, reports, extra test sets, and the library behind ``dfshield predict`` and
``dfshield robustness``."""
