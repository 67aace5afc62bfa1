"""The review page's HTTP routes (Starlette), and the gate that checks the session token."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse,
                                 Response)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .actions import ActionError
from .decisions import DecisionError
from .queues import Filters
from .server import CSP, HEADER, HERE, Review, cookie_name, image_response

MAX_BODY = 1 << 20


class TokenGate:
    """Every request needs the session token: ``?token=`` once (swapped for a cookie, then a redirect
    to the same URL without it), or the cookie. POSTs also need the ``X-Curator-Review`` header."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token, self.cookie = app, token, cookie_name(token)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given.encode(), self.token.encode()):
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            path = "/" + request.url.path.lstrip("/")  # "//evil.example/x" would leave this origin
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, send)
        cookie = request.cookies.get(self.cookie, "")
        if not secrets.compare_digest(cookie.encode(), self.token.encode()):
            response = PlainTextResponse("forbidden: open the URL `curator review` printed; it carries the "
                                         "session token", status_code=403)
            return await response(scope, receive, send)
        if request.method not in ("GET", "HEAD") and request.headers.get(HEADER) != "1":
            response = PlainTextResponse("forbidden: missing the review header", status_code=403)
            return await response(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [(b"content-security-policy", CSP.encode()),
                                       (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                                       (b"cache-control", b"no-store")]
            await send(message)
        return await self.app(scope, receive, send_with_headers)


def make_app(review: Review) -> Starlette:
    def page(request: Request):
        try:
            context = review.page_context(request.query_params)
        except KeyError as err:
            return PlainTextResponse(f"unknown queue {err.args[0]!r}", status_code=404)
        return HTMLResponse(review.render("review.html", **context))

    def history(request: Request):
        try:
            context = review.history_context(request.query_params.get("id", ""))
        except KeyError:
            return PlainTextResponse("unknown row id", status_code=404)
        return HTMLResponse(review.render("history.html", **context))

    def image(request: Request):
        path, why = image_response(review, request.query_params.get("path"))
        if why:
            return PlainTextResponse(why[1], status_code=why[0])
        return FileResponse(path)

    def queue_json(request: Request):
        name = request.path_params["name"]
        if name not in review.queues:
            return JSONResponse({"error": f"unknown queue {name!r}"}, status_code=404)
        try:
            offset = max(int(request.query_params.get("offset", 0)), 0)
            limit = min(max(int(request.query_params.get("limit", review.page_size)), 1), 500)
        except ValueError:
            return JSONResponse({"error": "offset and limit: expected whole numbers"}, status_code=400)
        total, items = review.queues[name].page(Filters.from_query(request.query_params), offset, limit)
        return JSONResponse({"queue": name, "total": total, "offset": offset, "items": review.decorate(items)})

    def counts(request: Request):
        return JSONResponse({"queues": review.counts(), "labels": review.index.labels})

    async def post(request: Request, handle):
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        try:  # appends fsync, and a push talks to a server: off the event loop
            return JSONResponse(await run_in_threadpool(handle, data))
        except (ActionError, DecisionError) as err:
            return JSONResponse({"error": str(err)}, status_code=400)

    async def decide(request: Request):
        return await post(request, lambda d: review.actions.decide(d.get("ids"), d.get("action"), d.get("value"),
                                                                   d.get("note")))

    async def bulk(request: Request):
        return await post(request, lambda d: review.actions.bulk(d.get("queue"), Filters.from_query(d),
                                                                 d.get("action"), d.get("value"), d.get("note")))

    async def undo(request: Request):
        return await post(request, lambda d: review.actions.undo())

    async def labelstudio(request: Request):
        return await post(request, lambda d: review.actions.send_to_labelstudio(d.get("ids")))

    routes = [Route("/", page), Route("/favicon.ico", lambda request: Response(status_code=204)),
              Route("/history", history), Route("/image", image),
              Route("/api/queues", counts), Route("/api/queue/{name}", queue_json),
              Route("/api/decide", decide, methods=["POST"]), Route("/api/bulk", bulk, methods=["POST"]),
              Route("/api/undo", undo, methods=["POST"]), Route("/api/labelstudio", labelstudio, methods=["POST"]),
              Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes)
    return TokenGate(app, review.token)
