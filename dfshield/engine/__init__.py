"""The training engine: the trainer, its splits and step, grouped runs and checkpoints."""
