"""Label Studio sync: push rows as tasks with pre-annotations, pull annotations back.

    from curator import labelstudio
    labelstudio.push("out/", project="tickets review", which="flagged", predictions="model/predictions.parquet")
    result = labelstudio.pull(project="tickets review", into="out/")
    result.agreement.overall     # tasks, annotators, percent, cohen_kappa, fleiss_kappa, krippendorff_alpha
    result.labels                # one decision per annotated row, joined to the dataset by id

The server URL and token come from arguments, ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``, or
the ``labelstudio:`` section of curator.yaml (``LabelStudioSettings``). Sync state and the
append-only annotation store live beside the dataset, in ``<name>.labelstudio/``.
Imports are lazy: importing this package loads neither pandas nor the SDK.
"""

from __future__ import annotations

from .errors import (AuthError, LabelMismatchError, LabelStudioError, ProjectNotFound, RequestError,
                     ServerUnreachable, SettingsError, SourceError, UnknownLabelError, UnsafePathError)
from .settings import LabelStudioSettings

__all__ = ["AuthError", "LabelMismatchError", "LabelStudioError", "LabelStudioRelabel", "LabelStudioSettings",
           "ProjectNotFound", "PullResult", "PushResult", "RequestError", "ServerUnreachable", "SettingsError",
           "SourceError", "UnknownLabelError", "UnsafePathError", "agreement", "pull", "push", "status"]

_LAZY = {"push": "push_tasks", "PushResult": "push_tasks", "pull": "pull_annotations",
         "PullResult": "pull_annotations", "status": "pull_annotations", "agreement": "pull_annotations",
         "LabelStudioRelabel": "relabel"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
