"""Named exceptions. The trainer raises these and never prints or exits; the CLI turns them into one
clear line and exit code 1."""

from __future__ import annotations


class TrainerError(Exception):
    """Base of every error the trainer raises on purpose."""


class ConfigError(TrainerError):
    """A training option has a wrong key or value."""


class RunDirError(TrainerError):
    """The run directory or its manifest is missing, unreadable or of the wrong shape."""


class MissingColumnError(RunDirError):
    """A split file lacks a column the manifest names."""


class ChecksumError(RunDirError):
    """A file's sha256 differs from the one in the manifest."""


class LeakError(RunDirError):
    """An id, normalised text or image hash is in two splits."""


class DataError(TrainerError):
    """A row cannot be used: an unknown label, an unreadable image."""


class ModelError(TrainerError):
    """The model cannot be loaded or does not fit the task."""


class DivergedError(TrainerError):
    """The training loss became NaN or infinite."""


class CheckpointError(TrainerError):
    """A checkpoint to resume from is missing or was made with other settings."""


class DependencyError(TrainerError):
    """An optional package the chosen option needs is not installed."""
