"""The training engine: trainer, checkpoints, distributed set-up, feature bank, progress bars."""
