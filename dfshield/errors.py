"""Exceptions raised by dfshield; each message names the problem and the fix."""


class DfshieldError(Exception):
    """Base class of every error dfshield raises on purpose."""


class ConfigError(DfshieldError, ValueError):
    """A configuration value, key or name is wrong."""


class UnknownNameError(ConfigError, LookupError):
    """A name was looked up in a registry that does not hold it."""


class DataError(DfshieldError):
    """A dataset, frame or file cannot be used as it is."""


class CheckpointError(DfshieldError):
    """A checkpoint is missing, corrupt or belongs to another detector."""


class WriteError(DataError, OSError):
    """A file could not be written (full disk, no permission); the previous one is kept."""
