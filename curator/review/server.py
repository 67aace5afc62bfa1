"""The review page: a small Starlette app over one run directory, served on 127.0.0.1.

Pages are rendered on the server by Jinja2 with autoescaping on, so every dataset string reaches
the browser as text; a Content-Security-Policy allows only this server's own script and styles,
so even a missed escape could not run. A random session token guards every request: the printed
URL carries it once, the server swaps it for a strict same-site cookie and redirects to a URL
without it, and POSTs must also carry a custom header a cross-site form cannot set. Uvicorn's
access log is off, so the token is never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..errors import CuratorError
from .actions import Actions
from .decisions import DecisionLog
from .images import ImageRefused, image_file
from .index import DROPPED, SPLITS, RunIndex
from .queues import Filters, build_queues

HERE = Path(__file__).parent
HEADER = "x-curator-review"
PAGE_SIZE = 20
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def cookie_name(token: str) -> str:
    """The session's cookie name: cookies ignore the port, so each session on 127.0.0.1 needs its own
    name, or a second session's cookie overwrites the first's. A hash of the token, never the token."""
    return "curator_review_" + hashlib.sha256(token.encode()).hexdigest()[:8]


def _web_stack() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        raise CuratorError("curator review needs Starlette and uvicorn: pip install 'curator[review]'") from None


class Review:
    """One run's review session: its indexes, queues, decision log and token."""

    def __init__(self, run_dir: str | Path, *, token: str | None = None, project: str = "curator review",
                 log: DecisionLog | None = None, page_size: int = PAGE_SIZE) -> None:
        self.index = RunIndex(run_dir)
        self.queues = build_queues(self.index)
        self.log = log or DecisionLog(self.index.decisions_path)
        self.token = token or secrets.token_urlsafe(24)
        self.page_size = page_size
        self.actions = Actions(self.index, self.queues, self.log, project)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))
        self._standing: tuple[tuple, pd.DataFrame] | None = None

    # -- state ----------------------------------------------------------------------------------
    def standing(self) -> pd.DataFrame:
        """The log's standing decisions, re-read only when the file changed."""
        try:
            st = os.stat(self.log.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._standing is None or self._standing[0] != stamp:
            self._standing = (stamp, self.log.effective())
        return self._standing[1]

    def decorate(self, items: list[dict]) -> list[dict]:
        """Give every row on the page its standing decision (``row["decision"]``)."""
        rows = [r for item in items for r in item["members"]]
        if not rows:
            return items
        standing = self.standing().reindex(pd.Index([r["id"] for r in rows], dtype=object)).astype(object)
        standing = standing.where(standing.notna(), None)
        for row, decision in zip(rows, standing.to_dict("records")):  # the rows of one page
            row["decision"] = decision if decision.get("time") is not None else None
        return items

    def counts(self) -> dict[str, int]:
        return {name: len(q) for name, q in self.queues.items()}

    # -- views ----------------------------------------------------------------------------------
    def page_context(self, params) -> dict:
        name = params.get("queue") or next((n for n, q in self.queues.items() if len(q)), "duplicates")
        if name not in self.queues:
            raise KeyError(name)
        queue = self.queues[name]
        filters = Filters.from_query(params)
        raw = str(params.get("page") or "0")
        page = int(raw) if raw.isascii() and raw.isdigit() else 0  # "²".isdigit(), yet not int()
        total, items = queue.page(filters, page * self.page_size, self.page_size)
        pages = max(1, -(-total // self.page_size))

        def link(**change) -> str:
            query = {"queue": name, **{k: v for k, v in filters.__dict__.items() if v}, "page": page, **change}
            return "/?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})

        return {"run_dir": str(self.index.run_dir), "modality": self.index.modality, "queues": self.queues,
                "queue": queue, "filters": filters, "reasons": queue.reasons(), "labels": self.index.labels,
                "splits": [*SPLITS, DROPPED], "items": self.decorate(items), "total": total, "page": page,
                "pages": pages, "page_size": self.page_size, "prev": link(page=page - 1) if page > 0 else None,
                "next": link(page=page + 1) if page + 1 < pages else None, "dropped": DROPPED}

    def render(self, template: str, **context) -> str:
        return self.templates.get_template(template).render(**context)

    def history_context(self, row_id: str) -> dict:
        pos = self.index.positions([row_id])[0]
        if pos < 0:
            raise KeyError(row_id)
        row = self.index.take(np.array([pos]))[0]
        mine = self.log.read()
        return {"row": row, "modality": self.index.modality, "ledger": self.index.history(row_id),
                "decisions": mine[mine["id"] == row_id].to_dict("records")}

    # -- the app --------------------------------------------------------------------------------
    def app(self):
        """The ASGI app (Starlette routes behind the token gate)."""
        _web_stack()
        from .routes import make_app
        return make_app(self)

    def url(self, host: str, port: int) -> str:
        return f"http://{host}:{port}/?token={self.token}"


def image_response(review: Review, rel: str | None):
    """The image file, or why not (status, message)."""
    try:
        return image_file(review.index.root, rel), None
    except ImageRefused as err:
        return None, (403, str(err))
    except FileNotFoundError:
        return None, (404, "image not found")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise CuratorError(f"--host {host} --port {port}: cannot listen there ({err.strerror})") from None
    sock.listen(128)
    return sock


def _server(review: Review, sock: socket.socket):
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(review.app(), host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    return uvicorn.Server(config)


def serve(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 0, project: str = "curator review",
          on_ready: Callable[[str], None] = print) -> None:
    """Serve the review page until interrupted; ``on_ready`` gets the URL (with its token) once."""
    review = Review(run_dir, project=project)
    sock = _bind(host, port)
    server = _server(review, sock)
    on_ready(review.url(*sock.getsockname()[:2]))
    server.run(sockets=[sock])


@contextlib.contextmanager
def running(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 0, **kwargs) -> Iterator[tuple[Review, str]]:
    """The review page served from a background thread, for scripts and tests: yields (review, url)."""
    review = Review(run_dir, **kwargs)
    sock = _bind(host, port)
    server = _server(review, sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield review, review.url(*sock.getsockname()[:2])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

