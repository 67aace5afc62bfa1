"""Named errors of the Label Studio sync. Each message is one line, names the problem, and never
holds the API token (see ``redact``)."""

from __future__ import annotations

from ..errors import CuratorError, InputError


class LabelStudioError(CuratorError):
    """Base of every error the Label Studio sync raises on purpose."""


class SettingsError(LabelStudioError):
    """No server URL or API token could be found, or the settings are malformed."""


class AuthError(LabelStudioError):
    """The server rejected the API token."""


class ServerUnreachable(LabelStudioError):
    """The server cannot be reached, or went away in the middle of a request."""


class RequestError(LabelStudioError):
    """The server refused a request (a 4xx or 5xx answer other than an auth failure)."""

    status: int | None = None  # the HTTP status, when there was one


class ProjectNotFound(LabelStudioError):
    """No project has the given title."""


class LabelMismatchError(LabelStudioError):
    """The project's labelling config does not match the dataset (labels or modality)."""


class UnknownLabelError(LabelStudioError):
    """A label (from the server or a predictions file) is not in the label list."""


class UnsafePathError(InputError, LabelStudioError):
    """An image path leaves the dataset root, or the root is outside the server's files root."""


class SourceError(InputError, LabelStudioError):
    """A dataset, run directory or predictions file cannot be used for a push or pull."""


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced by ``***`` (a belt to go with the braces)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
