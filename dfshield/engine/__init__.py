"""The training engine: the trainer, composed of a split provider (``splits``) and one batch
source (``batches``: feature bank or DataLoader); checkpoints, distributed set-up, the feature
bank and progress bars."""
