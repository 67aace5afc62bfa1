"""Named exceptions. The library raises these and never prints or exits; the CLI turns them
into one clear line and a non-zero exit code. Bad *rows* are never exceptions: they become
dropped rows in the ledger."""

from __future__ import annotations


class CuratorError(Exception):
    """Base of every error curator raises on purpose."""


class ConfigError(CuratorError):
    """The run config has a wrong key or value."""


class RuleError(ConfigError):
    """A rule set names an unknown check, param or field."""


class InputError(CuratorError):
    """An input file is missing, unreadable as a whole, or has the wrong shape."""


class MissingColumnError(InputError):
    """A column the config maps is not in the input."""


class DuplicateIdError(InputError):
    """The user's id column holds the same id more than once."""


class EmptyDatasetError(InputError):
    """No usable row is left to work on."""


class InvariantError(CuratorError):
    """Row accounting broke: a bug in a step, never the user's fault."""


class LeakError(CuratorError):
    """An id, normalised text or image hash landed in two splits."""


class OutputError(CuratorError):
    """The output directory cannot be written."""


class MissingResourceError(CuratorError):
    """A model or data file that an optional feature needs is not installed or not found."""
