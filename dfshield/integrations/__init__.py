"""Bridges to other frameworks (:mod:`dfshield.integrations.deepfakebench`): above the engine
in the import floors, called only by commands and by the other framework's code."""
