"""The lab's local web server: Starlette routes served by uvicorn (the `lab` extra, `pip install "numnet[lab]"`).

Every request needs the lab's token: the `token` query parameter (the URL printed at start; it is then kept
in a SameSite=Strict cookie), the cookie, or an `X-Lab-Token` / `Authorization: token ...` header; without
it the answer is 403. The Host header must name the machine the lab was started for (localhost / 127.0.0.1,
or the --host given), which defeats DNS rebinding. Bodies are read as a stream and refused past MAX_BODY
(never held whole when too large), JSON is checked, names are validated in core; a bad request gets a 4xx
and the server keeps serving. This is the only lab module that knows HTTP.
"""
from __future__ import annotations

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import Headers, MutableHeaders, QueryParams
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as e:  # the CLI prints this message as one line
    raise ImportError('the lab needs its extra: pip install "numnet[lab]"') from e

import functools
import hmac
import json
import secrets
import socket
import threading
import time
import traceback
from http.cookies import CookieError, SimpleCookie
from importlib import resources

from .core import Lab, LabError, NotFound, TooLarge

MAX_BODY = 5 * 1024 * 1024  # uploads and JSON bodies
DRAIN_LIMIT = 16 * MAX_BODY  # a refused body up to this size is read and dropped, so the client sees the 413
COOKIE = "numnet_lab_token"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")
SAFETY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
SSE_WAIT = 0.5  # seconds a stream waits for the next training event before checking for shutdown
SSE_KEEPALIVE = 10.0


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def dumps(obj) -> str:
    """JSON for the page: NaN and infinities (a diverged cost) become null, which JSON.parse accepts."""
    try:
        return json.dumps(obj, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False)


def _finite(obj):
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class LabJSON(JSONResponse):
    def render(self, content) -> bytes:
        return dumps(content).encode()


def error(status: int, message: str) -> JSONResponse:
    return LabJSON({"error": message}, status)


# ---------------------------------------------------------------------------------------------- the guard
def host_ok(host: str, allowed: set[str]) -> bool:
    """Whether a Host header (name[:port], [v6]:port) names one of the allowed hosts."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        name = host[:host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if ":" in host else host
    return name in allowed


def token_ok(headers: Headers, query: QueryParams, token: str, cookie_name: str) -> tuple[bool, bool]:
    """(authorised, came from the query: set the cookie)."""
    want = token.encode()
    given = query.get("token")
    if given is not None:
        return hmac.compare_digest(given.encode(), want), True
    header = headers.get("x-lab-token") or ""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("token "):
        header = header or auth[6:].strip()
    if header:
        return hmac.compare_digest(header.encode(), want), False
    try:
        cookie = SimpleCookie(headers.get("cookie") or "")
    except CookieError:
        return False, False
    if cookie_name in cookie:
        return hmac.compare_digest(cookie[cookie_name].value.encode(), want), False
    return False, False


class Guard:
    """ASGI middleware before every route: checks the Host header and the token (403 otherwise) and adds the
    safety headers to every answer."""

    def __init__(self, app, server: LabServer):
        self.app, self.server = app, server

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_safe(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SAFETY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        headers = Headers(scope=scope)
        if not host_ok(headers.get("host", ""), self.server.allowed_hosts):
            return await error(403, "host not allowed")(scope, receive, send_safe)
        ok, from_query = token_ok(headers, QueryParams(scope.get("query_string", b"")), self.server.token,
                                  self.server.cookie)
        if not ok:
            return await error(403, "missing or wrong token: open the URL the lab printed")(scope, receive, send_safe)
        scope.setdefault("state", {})["token_from_query"] = from_query
        await self.app(scope, receive, send_safe)


# ---------------------------------------------------------------------------------------------- bodies
async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, read as a stream and refused (413) when it passes `limit` bytes, declared or received;
    bytes past the limit are read and dropped (up to DRAIN_LIMIT, so the client sees the 413), never kept."""
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if length is None and not chunked:
        raise LabError("a request body needs a Content-Length")
    declared = int(length) if length is not None and length.isdigit() else 0
    too_large = f"the body is over the limit of {limit // (1024 * 1024)} MB"
    if declared > DRAIN_LIMIT:
        raise TooLarge(too_large)
    body, seen = bytearray(), 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > DRAIN_LIMIT:
            break
        if declared <= limit and seen <= limit:
            body += chunk
    if declared > limit or seen > limit:
        raise TooLarge(too_large)
    return bytes(body)


async def read_json(request: Request) -> dict:
    try:
        body = json.loads(await read_body(request) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabError(f"malformed JSON: {e}") from None
    except RecursionError:
        raise LabError("malformed JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise LabError("the JSON body must be an object")
    return body


# ---------------------------------------------------------------------------------------------- routes
def endpoint(fn):
    """A route whose refusals (LabError) become their 4xx and whose surprises a 500, the server going on."""
    @functools.wraps(fn)
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request, request.app.state.lab, dict(request.query_params))
        except LabError as e:
            return error(e.status, str(e))
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the lab
            traceback.print_exc()
            return error(500, f"internal error: {type(e).__name__}: {e}")
    return wrapped


def call(fn, *args):
    """Run a core computation in a worker thread (the event loop keeps serving)."""
    return run_in_threadpool(fn, *args)


def _int(q, key, default=0):
    try:
        value = int(q.get(key, default))
    except ValueError:
        raise LabError(f"{key} must be an integer") from None
    if value < 0:
        raise LabError(f"{key} must be >= 0")
    return value


def _opt_digit(q, key):
    v = q.get(key, "")
    return None if v in ("", "all") else v


def _current(lab, q):
    name = q.get("model")
    if not name:
        models = lab.models()
        if not models:
            raise NotFound("no model yet: train one in the Train panel")
        name = models[0]
    return name


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png")


def json_route(compute):
    """A GET route answering compute(lab, query) as JSON."""
    @endpoint
    async def route(request, lab, q):
        return LabJSON(await call(compute, lab, q))
    return route


def json_body_route(compute):
    """A POST route answering compute(lab, query, JSON body) as JSON."""
    @endpoint
    async def route(request, lab, q):
        body = await read_json(request)
        return LabJSON(await call(compute, lab, q, body))
    return route


def _state(lab, q):
    from ..runs.settings import recipe_names
    from ..train.optimizers import OPTIMIZERS
    from ..utils.backend import usable_devices

    return {"models": lab.models(), "recipes": recipe_names(), "optimizers": OPTIMIZERS.names(),
            "devices": usable_devices(), "training": lab.training_status()["status"], "workdir": lab.workdir.name}


def _recipe(lab, q):
    from ..runs.run import resolve_settings

    try:
        settings = resolve_settings(q.get("name") or None)
    except ValueError as e:
        raise NotFound(str(e)) from None
    settings.pop("seed", None)
    return settings


@endpoint
async def _predict(request, lab, q):
    invert = {"auto": "auto", "yes": True, "no": False}.get(q.get("invert", "auto"))
    if invert is None:
        raise LabError("invert must be auto, yes or no")
    body = await read_body(request)
    return LabJSON(await call(lab.predict, _current(lab, q), body, invert))


@endpoint
async def _weights(request, lab, q):
    return _png(await call(lab.weights_png, _current(lab, q), min(256, _int(q, "count", 64))))


@endpoint
async def _digit(request, lab, q):
    return _png(await call(lab.digit_png, q.get("index")))


def _tag(lab, q, body):
    if "index" not in body:
        raise LabError("index missing")
    return lab.tag(_current(lab, body), body["index"], body.get("tags", ""))


@endpoint
async def _train_events(request, lab, q):
    """Server-sent events of the current run from event `since` (or after the Last-Event-ID that a
    reconnecting EventSource sends), then an "end" event."""
    since = _int(q, "since")
    last = request.headers.get("last-event-id", "")
    if last.isdigit():
        since = max(since, int(last) + 1)
    job, closing = lab.train_job, request.app.state.closing

    async def stream():
        nonlocal since
        if job is None:
            yield b'data: {"type": "idle"}\n\n'
            return
        quiet = time.monotonic()
        while not closing.is_set():
            events, ended = await call(job.wait_events, since, SSE_WAIT)
            for ev in events:
                yield f"id: {ev['i']}\ndata: {dumps(ev)}\n\n".encode()
            since += len(events)
            if ended and since >= len(job.events):
                yield f'data: {json.dumps({"type": "end", "status": job.status})}\n\n'.encode()
                return
            if events:
                quiet = time.monotonic()
            elif time.monotonic() - quiet > SSE_KEEPALIVE:
                quiet = time.monotonic()
                yield b": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@endpoint
async def _page(request, lab, q):
    name, ctype = STATIC[request.url.path]
    response = Response(_static(name), headers={"Content-Type": ctype, "Content-Security-Policy": CSP})
    if request.scope.get("state", {}).get("token_from_query"):
        server = request.app.state.server
        response.headers.append("Set-Cookie", f"{server.cookie}={server.token}; Path=/; HttpOnly; SameSite=Strict")
    return response


ROUTES = [
    *(Route(path, _page, methods=["GET"]) for path in STATIC),
    Route("/api/state", json_route(_state)),
    Route("/api/recipe", json_route(_recipe)),
    Route("/api/models", json_route(lambda lab, q: {"models": lab.models()})),
    Route("/api/predict", _predict, methods=["POST"]),
    Route("/api/train", json_body_route(lambda lab, q, body: lab.start_training(body)), methods=["POST"]),
    Route("/api/train/quick", json_body_route(lambda lab, q, body: lab.start_training(body, quick=True)),
          methods=["POST"]),
    Route("/api/train/stop", json_body_route(lambda lab, q, body: lab.stop_training()), methods=["POST"]),
    Route("/api/train/status", json_route(lambda lab, q: lab.training_status())),
    Route("/api/train/events", _train_events),
    Route("/api/inside", json_route(lambda lab, q: lab.inside(_current(lab, q)))),
    Route("/api/inside/weights.png", _weights),
    Route("/api/errors/confusion", json_route(lambda lab, q: lab.confusion(_current(lab, q)))),
    Route("/api/errors/mistakes", json_route(lambda lab, q: lab.mistakes(
        _current(lab, q), _opt_digit(q, "true"), _opt_digit(q, "predicted"), min(200, _int(q, "limit", 48))))),
    Route("/api/errors/image.png", _digit),
    Route("/api/errors/tag", json_body_route(_tag), methods=["POST"]),
    Route("/api/play", json_body_route(lambda lab, q, body: lab.start_playground(body)), methods=["POST"]),
    Route("/api/play/stop", json_body_route(lambda lab, q, body: lab.stop_playground()), methods=["POST"]),
    Route("/api/play/events", json_route(lambda lab, q: lab.playground_events(_int(q, "since")))),
    Route("/api/search/list", json_route(lambda lab, q: lab.searches())),
    Route("/api/search/trials", json_route(lambda lab, q: lab.search_trials(q.get("storage"), q.get("study")))),
]


async def _not_found(request, exc):
    status = getattr(exc, "status_code", 404)
    what = "no such page" if status == 404 else f"{request.method} not allowed on"
    return error(status, f"{what}: {request.url.path}")


def create_app(server: LabServer):
    """The lab's ASGI application: its routes behind the Guard."""
    app = Starlette(routes=ROUTES, exception_handlers={404: _not_found, 405: _not_found})
    app.state.lab, app.state.server, app.state.closing = server.lab, server, server.closing
    return Guard(app, server)


# ---------------------------------------------------------------------------------------------- the server
def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # connections queue from now on, even before uvicorn takes the socket
    except OSError:
        sock.close()
        raise
    return sock


class LabServer:
    """The lab on a listening socket: its token, the host names it answers to, and a uvicorn server.
    `serve()` blocks (the CLI; Ctrl-C stops it), `start()` serves in a thread (tests, scripts), `close()`."""

    def __init__(self, lab: Lab, host="127.0.0.1", port=0, token=None, allowed_hosts=()):
        self.lab = lab
        self.token = token or secrets.token_urlsafe(24)
        self.allowed_hosts = LOCAL_HOSTS | {h.lower() for h in allowed_hosts}
        self.closing = threading.Event()
        self.socket = _listen(host, port)
        self.server_address = self.socket.getsockname()[:2]
        self.cookie = f"{COOKIE}_{self.port}"  # cookies ignore ports: one per lab on this machine
        config = uvicorn.Config(create_app(self), http="h11", ws="none", loop="asyncio", lifespan="off",
                                log_config=None, log_level="error", access_log=False, proxy_headers=False,
                                server_header=False, timeout_graceful_shutdown=2)
        self.uvicorn = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, host=None) -> str:
        host = host or self.server_address[0]
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.token}"

    def serve(self):
        """Serve until Ctrl-C / SIGTERM (main thread) or close()."""
        self.uvicorn.run(sockets=[self.socket])

    def start(self, timeout=10.0) -> threading.Thread:
        """Serve in a background thread; returns once the server answers."""
        self.thread = threading.Thread(target=self.serve, name="lab-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.uvicorn.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the lab's server did not start")
            time.sleep(0.01)
        return self.thread

    def close(self):
        """Stop serving (open streams end within SSE_WAIT), stop the lab's jobs, free the port."""
        self.closing.set()
        self.lab.close()
        self.uvicorn.should_exit = True
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(10)
        self.socket.close()


def open_browser(url) -> bool:
    """Open `url` in a graphical browser when there is one (never a text browser taking over the terminal)."""
    import os
    import sys
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def make_server(workdir=".", model=None, host="127.0.0.1", port=8765, token=None, tries=20, storage=None) -> LabServer:
    """A LabServer on `port` (or the next free one of `tries`; port 0: any free port)."""
    lab = Lab(workdir, model, storage=storage)
    allowed = () if host in ("127.0.0.1", "localhost") else (host,)
    last = None
    for p in ([0] if port == 0 else range(port, port + tries)):
        try:
            return LabServer(lab, host, p, token, allowed)
        except OSError as e:
            last = e
    raise OSError(f"no free port in {port}-{port + tries - 1}: {last}")


__all__ = ["LabServer", "make_server", "open_browser", "create_app", "MAX_BODY"]
