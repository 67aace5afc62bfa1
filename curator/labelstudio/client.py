"""A thin wrapper over label-studio-sdk: the calls curator makes, with its faults turned into named,
one-line errors that never hold the token.

The SDK retries a refused connection and 5xx answers on its own. Calls that create things
(``import_tasks``, ``import_predictions``) are sent with no SDK retry: a request that timed out or
lost its connection may still have been applied, so the caller checks the server before retrying.
``timeout`` bounds those writes; reads wait at least 30 s (listing a large project is slow).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import AuthError, RequestError, ServerUnreachable, redact
from .settings import Connection

T = TypeVar("T")
READ_TIMEOUT = 30.0


def _sdk():
    try:
        import httpx
        from label_studio_sdk import LabelStudio
        from label_studio_sdk.core.api_error import ApiError
    except ImportError:  # pragma: no cover - depends on the install
        from ..errors import CuratorError
        raise CuratorError("the Label Studio sync needs label-studio-sdk: pip install 'curator[labelstudio]'") from None
    return httpx, LabelStudio, ApiError


class ConnectionLost(ServerUnreachable):
    """The connection dropped or timed out after the request was sent: it may have been applied."""


class Session:
    """One connection to one server. Every call goes through ``call``, which names the fault."""

    def __init__(self, conn: Connection, *, timeout: float = 60.0) -> None:
        httpx, LabelStudio, ApiError = _sdk()
        self.url = conn.url
        self.timeout = timeout
        self._secret = conn.api_key.get_secret_value()
        self._httpx, self._api_error = httpx, ApiError
        self.sdk = LabelStudio(base_url=conn.url, api_key=self._secret, timeout=max(timeout, READ_TIMEOUT))
        self._write = {"max_retries": 0, "timeout_in_seconds": timeout}

    def __repr__(self) -> str:
        return f"Session(url={self.url!r})"

    # -- error translation ----------------------------------------------------------------------
    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; transport and API faults become named errors naming ``what``."""
        httpx = self._httpx
        try:
            return fn(*args, **kwargs)
        except httpx.ConnectError:
            raise ServerUnreachable(self._say(f"Label Studio at {self.url} is not reachable ({what}): "
                                              "connection refused; is the server running?")) from None
        except httpx.TimeoutException:
            raise ConnectionLost(self._say(f"Label Studio at {self.url} did not answer in time ({what})")) from None
        except httpx.TransportError as err:
            raise ConnectionLost(self._say(f"Label Studio at {self.url}: connection lost during {what} "
                                           f"({type(err).__name__})")) from None
        except self._api_error as err:
            raise self._api_failure(what, err) from None

    def _api_failure(self, what: str, err) -> Exception:
        status = err.status_code
        if status in (401, 403):
            reason = "rejected the API token" if status == 401 else "refused access with this API token"
            return AuthError(self._say(f"Label Studio at {self.url} {reason} ({status}, {what}); "
                                       "check --api-key or LABEL_STUDIO_API_KEY"))
        failure = RequestError(self._say(f"Label Studio at {self.url} answered {status} to {what}: "
                                         f"{_detail(err.body)}"))
        failure.status = status
        return failure

    def _say(self, message: str) -> str:
        return redact(message, self._secret)

    # -- calls ------------------------------------------------------------------------------------
    def whoami(self) -> dict:
        user = self.call("checking the token", self.sdk.users.whoami)
        return {"id": user.id, "email": user.email}

    def find_projects(self, title: str) -> list:
        """Every project whose title is exactly ``title``."""
        found = []
        for page in self._pages("listing projects", lambda n, size: self.sdk.projects.list(
                title=title, page=n, page_size=size), 100):
            found.extend(p for p in page if p.title == title)
        return found

    def get_project(self, project_id: int):
        return self.call(f"reading project {project_id}", self.sdk.projects.get, project_id)

    def create_project(self, title: str, label_config: str, description: str = ""):
        return self.call(f"creating project {title!r}", self.sdk.projects.create, title=title,
                         label_config=label_config, description=description)

    def tasks(self, project_id: int, *, include: str | None = None, fields: str | None = "all",
              page_size: int = 1000, timeout: float | None = None) -> Iterator[list]:
        """The project's tasks, one page (a list of SDK task objects) at a time. (A filter to annotated
        tasks only costs the server more than it saves: ``only_annotated`` is ignored, and a count filter
        doubles the time of a page.)"""
        options = {"timeout_in_seconds": timeout} if timeout else None

        def fetch(n: int, size: int):
            return self.sdk.tasks.list(project=project_id, page=n, page_size=size, include=include, fields=fields,
                                       request_options=options)
        yield from self._pages(f"listing the tasks of project {project_id}", fetch, page_size)

    def export_tasks(self, project_id: int, task_ids: list[int]) -> list[dict]:
        """These tasks with their annotations, through the project's JSON export (an export limited
        to a page of task ids: the whole-project export times out on large projects)."""
        def run() -> list[dict]:
            options = {"additional_query_parameters": {"ids[]": list(task_ids)}}
            return json.loads(b"".join(self.sdk.projects.exports.download_sync(
                project_id, export_type="JSON", request_options=options)))
        return self.call(f"exporting {len(task_ids)} tasks of project {project_id}", run)

    def tasks_by_id(self, project_id: int, task_ids: list[int]) -> list:
        """These tasks, in full (annotations and predictions), through the task list."""
        query = json.dumps({"selectedItems": {"all": False, "included": list(task_ids)}})
        found: list = []
        for page in self._pages(f"listing {len(task_ids)} tasks of project {project_id}",
                                lambda n, size: self.sdk.tasks.list(project=project_id, page=n, page_size=size,
                                                                    fields="all", query=query), len(task_ids)):
            found.extend(page)
        return found

    def task_count(self, project_id: int) -> int:
        pager = self.call(f"counting the tasks of project {project_id}", self.sdk.tasks.list, project=project_id,
                          page=1, page_size=1, include="id")
        return int(pager.response.total)

    def delete_task(self, task_id: int) -> None:
        self.call(f"deleting task {task_id}", self.sdk.tasks.delete, str(task_id))

    def import_tasks(self, project_id: int, tasks: list[dict]) -> list[int]:
        """Create tasks (with their predictions); the new task ids, in order. Never retried here."""
        response = self.call(f"importing {len(tasks)} tasks", self.sdk.projects.import_tasks, project_id,
                             request=tasks, return_task_ids=True, request_options=self._write)
        return list(response.task_ids or [])

    def import_predictions(self, project_id: int, predictions: list[dict]) -> int:
        """Add predictions to existing tasks. Never retried here."""
        response = self.call(f"importing {len(predictions)} predictions", self.sdk.projects.import_predictions,
                             project_id, request=predictions, request_options=self._write)
        return int(getattr(response, "created", None) or len(predictions))

    def update_task(self, task_id: int, data: dict) -> None:
        """Replace a task's data (a PATCH: safe to repeat)."""
        self.call(f"updating task {task_id}", self.sdk.tasks.update, str(task_id), data=data)

    def local_storages(self, project_id: int) -> list:
        return self.call("listing local-files storages", self.sdk.import_storage.local.list, project=project_id)

    def create_local_storage(self, project_id: int, path: str) -> None:
        self.call(f"creating a local-files storage for {path}", self.sdk.import_storage.local.create,
                  project=project_id, path=path, use_blob_urls=True, title="curator", regex_filter="^$")

    def users(self) -> dict[int, str]:
        """User id -> email (or an empty map when this token may not list users)."""
        try:
            found = self.call("listing users", self.sdk.users.list)
        except (AuthError, RequestError):
            return {}
        return {u.id: (u.email or u.username or f"user:{u.id}") for u in found}

    # -- paging -----------------------------------------------------------------------------------
    def _pages(self, what: str, fetch: Callable[[int, int], Any], page_size: int) -> Iterator[list]:
        """Page numbers from 1 until a short page or the total (the SDK's own pager asks one page
        too far and gets a 404)."""
        seen, n = 0, 1
        while True:
            try:
                pager = self.call(what, fetch, n, page_size)
            except RequestError as err:
                if n > 1 and err.status == 404:  # asked one page too far
                    return
                raise
            items = list(pager.items or [])
            total = getattr(pager.response, "total", None) or getattr(pager.response, "count", None)
            if items:
                yield items
            seen += len(items)
            if len(items) < page_size or (total is not None and seen >= total):
                return
            n += 1


def _detail(body: Any) -> str:
    """A short, single-line reason out of an API error body."""
    if isinstance(body, dict):
        for key in ("validation_errors", "detail", "error", "message"):
            if body.get(key):
                body = body[key]
                break
    text = " ".join(str(body).split())
    return text if len(text) <= 240 else text[:237] + "..."
