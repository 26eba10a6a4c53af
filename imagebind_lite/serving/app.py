"""The ASGI application (Starlette): a JSON API and the web page, over a ``QueryEngine``.

    GET  /                      the page (static/index.html: plain HTML, CSS and JS, nothing fetched
                                from elsewhere, so it works offline)
    GET  /api/health            {"status": "ok"}
    GET  /api/info              rows, modalities, what the model can embed, backend, limits
    POST /api/query             JSON, or multipart with file parts (``queries.py``); GET with ?text=
    GET  /api/media/{row}       the file row ``row`` was embedded from (only files the index lists)
    GET  /api/preview/{row}     a PNG/SVG rendering of it (``previews.py``)

Every refusal is a JSON ``{"error": message}`` with a 4xx status; request bodies above the
upload limit are cut off while they stream in (413), whatever their Content-Length says.
Model and index work runs on the thread pool, never on the event loop.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, Tuple

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .engine import QueryEngine
from .queries import HttpError, parse_query

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_FORM_FIELDS = 64


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``limit`` bytes (413), counted as they arrive."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            status = 413 if declared.isdigit() else 400
            message = (f"the request body ({int(declared)} bytes) is larger than the upload limit of {self.limit} "
                       "bytes" if declared.isdigit() else "invalid Content-Length header")
            return await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        return await self.app(scope, limited, send)


def _engine(request: Request) -> QueryEngine:
    return request.app.state.engine


async def _payload(request: Request) -> Tuple[Any, Dict[str, Tuple[str, bytes]]]:
    """The query JSON and the uploaded files of a request."""
    if request.method == "GET":
        params = request.query_params
        payload: Dict[str, Any] = {key: params[key] for key in ("k", "backend", "nprobe", "ef_search", "rerank")
                                   if key in params}
        payload.update(text=params.getlist("text"), modality=params.getlist("modality"), terms=[])
        payload["terms"] = [{"id": value} for value in params.getlist("id")]
        return payload, {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return json.loads(await request.body()), {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"the request body is not valid JSON ({exc})") from None
    if kind != "multipart/form-data":
        raise HttpError(415, "send the query as application/json, or as multipart/form-data with file parts")
    limits = _engine(request).limits
    form = await request.form(max_files=limits.max_terms, max_fields=MAX_FORM_FIELDS)
    uploads = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name in uploads:
                raise HttpError(400, f"two file parts are named {name!r}; give each its own name")
            uploads[name] = (value.filename or name, await value.read())
    if "query" in form:
        try:
            payload = json.loads(form["query"])
        except ValueError as exc:
            raise HttpError(400, f"the 'query' field is not valid JSON ({exc})") from None
    else:
        payload = {key: form[key] for key in ("k", "backend", "nprobe", "ef_search", "rerank") if key in form}
        payload.update(text=[t for t in form.getlist("text") if isinstance(t, str)],
                       modality=[m for m in form.getlist("modality") if isinstance(m, str)])
    return payload, uploads


async def query(request: Request) -> Response:
    engine = _engine(request)
    payload, uploads = await _payload(request)
    parsed = parse_query(payload, engine.limits, list(uploads))
    return JSONResponse(await run_in_threadpool(engine.search, parsed, uploads))


async def media(request: Request) -> Response:
    path, media_type = _engine(request).media_path(request.path_params["row"])
    return FileResponse(path, media_type=media_type)


async def preview(request: Request) -> Response:
    media_type, body = await run_in_threadpool(_engine(request).preview, request.path_params["row"])
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


async def info(request: Request) -> Response:
    return JSONResponse(_engine(request).info())


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def _refused(request: Request, exc: HttpError) -> Response:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _http(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _too_large(request: Request, exc: BodyTooLarge) -> Response:
    limit = _engine(request).limits.max_upload_bytes
    return JSONResponse({"error": f"the request body is larger than the upload limit of {limit} bytes"},
                        status_code=413)


async def _crashed(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


def create_app(engine: QueryEngine):
    """The ASGI app serving ``engine`` (wrapped in the upload-size limit)."""
    routes = [
        Route("/", page),
        Route("/api/health", health),
        Route("/api/info", info),
        Route("/api/query", query, methods=["GET", "POST"]),
        Route("/api/media/{row:int}", media),
        Route("/api/preview/{row:int}", preview),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {HttpError: _refused, HTTPException: _http, BodyTooLarge: _too_large, Exception: _crashed}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.engine = engine
    return BodyLimit(app, engine.limits.max_upload_bytes)
