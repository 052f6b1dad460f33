"""Bridges to other frameworks: :mod:`dfshield.integrations.deepfakebench` (docs/deepfakebench.md).

Above the engine and evaluation in the import floors (docs/architecture.md): a bridge builds
detectors, reads configs and checkpoints, and is called only by commands and by the other
framework's code.
"""
