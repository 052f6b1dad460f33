"""The training engine: the trainer, composed of a split provider (``splits``) and one batch
source (``batch_sources``: feature bank or DataLoader); the training step, grouped runs,
checkpoints, the feature bank and the run-folder lock."""
