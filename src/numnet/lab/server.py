"""The lab's local web server: Starlette routes served by uvicorn (the `lab` extra, `pip install "numnet[lab]"`).

Every request needs the lab's token: the `token` query parameter (the URL printed at start; it is then kept
in a SameSite=Strict cookie), the cookie, or an `X-Lab-Token` / `Authorization: token ...` header; without
it the answer is 403 (an HTML page saying what to do, for the page itself). The Host header must name the
machine the lab was started for (localhost / 127.0.0.1, or the --host given), which defeats DNS rebinding.
Requests from another origin (another port of this machine is another origin but the same site, so the
SameSite cookie goes along) are refused: API calls and every state-changing request need Sec-Fetch-Site
same-origin (or none) and, when the browser sends one, the lab's own Origin; JSON bodies must be sent as
application/json (a text/plain body needs no CORS preflight, so it is never parsed). Bodies are read as a
stream and refused past MAX_BODY (never held whole when too large); JSON is parsed strictly (no NaN or
Infinity, no 5,000-digit numbers) and unknown keys are refused; names are validated in the lab's parts.
Connections that send no complete request head within HEADER_TIMEOUT are closed (slowloris), idle
keep-alive ones after KEEP_ALIVE. A bad request gets a 4xx and the server keeps serving. Ctrl-C stops the
running training run and waits for it to save its model. This is the only lab module that knows HTTP.
"""
from __future__ import annotations

try:
    import h11
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError as e:  # the CLI prints this message as one line
    raise ImportError('the lab needs its extra: pip install "numnet[lab]"') from e

import functools
import json
import secrets
import socket
import threading
import time
import traceback
from importlib import resources

from .base import LabError, NotFound, check_keys
from .core import Lab
from .guard import (COOKIE, CSP, HEADER_TIMEOUT, KEEP_ALIVE, LOCAL_HOSTS, MAX_BODY, MAX_HEAD, SSE_KEEPALIVE,
                    SSE_WAIT, STATIC, Guard, LabJSON, dumps, error, read_body, read_json)

def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


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
    return lab.current(q.get("model"))


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


def png_route(compute):
    """A GET route answering compute(lab, query) as a PNG image."""
    @endpoint
    async def route(request, lab, q):
        return _png(await call(compute, lab, q))
    return route


def _state(lab, q):
    from ..runs.settings import recipe_names
    from ..train.optimizers import OPTIMIZERS
    from ..utils.backend import usable_devices

    return {"models": lab.models(), "recipes": recipe_names(), "optimizers": OPTIMIZERS.names(),
            "devices": usable_devices(), "training": lab.runs.status()["status"], "workdir": lab.workdir.name}


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
    return LabJSON(await call(lambda: lab.views.predict(_current(lab, q), body, invert)))


def _tag(lab, q, body):
    check_keys(body, {"model", "index", "tags"}, "tag")
    if "index" not in body:
        raise LabError("index missing")
    return lab.tags.tag(_current(lab, body), body["index"], body.get("tags", ""))


def _no_body(compute):
    """A POST route that takes no settings: its JSON body must be empty ({})."""
    def route(lab, q, body):
        check_keys(body, (), "this request")
        return compute(lab)
    return route


@endpoint
async def _train_events(request, lab, q):
    """Server-sent events of the current run from event `since` (or after the Last-Event-ID that a
    reconnecting EventSource sends), then an "end" event."""
    since = _int(q, "since")
    last = request.headers.get("last-event-id", "")
    if last.isdigit():
        since = max(since, int(last) + 1)
    job, closing = lab.runs.job, request.app.state.closing

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
    Route("/api/ping", json_route(lambda lab, q: {"ok": True})),
    Route("/api/state", json_route(_state)),
    Route("/api/recipe", json_route(_recipe)),
    Route("/api/models", json_route(lambda lab, q: {"models": lab.models()})),
    Route("/api/predict", _predict, methods=["POST"]),
    Route("/api/train", json_body_route(lambda lab, q, body: lab.runs.start(body)), methods=["POST"]),
    Route("/api/train/quick", json_body_route(lambda lab, q, body: lab.runs.start(body, quick=True)),
          methods=["POST"]),
    Route("/api/train/stop", json_body_route(_no_body(lambda lab: lab.runs.stop())), methods=["POST"]),
    Route("/api/train/status", json_route(lambda lab, q: lab.runs.status())),
    Route("/api/train/events", _train_events),
    Route("/api/runs", json_route(lambda lab, q: lab.runs.history())),
    Route("/api/inside", json_route(lambda lab, q: lab.views.inside(_current(lab, q)))),
    Route("/api/inside/weights.png", png_route(lambda lab, q: lab.views.weights_png(
        _current(lab, q), min(256, _int(q, "count", 64))))),
    Route("/api/inside/unit", json_route(lambda lab, q: lab.views.unit(
        _current(lab, q), q.get("layer", 1), q.get("unit")))),
    Route("/api/inside/unit.png", png_route(lambda lab, q: lab.views.unit_png(_current(lab, q), q.get("unit")))),
    Route("/api/test/grid", json_route(lambda lab, q: lab.views.test_grid(
        _current(lab, q), _int(q, "start"), min(100, _int(q, "count", 40))))),
    Route("/api/errors/confusion", json_route(lambda lab, q: lab.tags.confusion(_current(lab, q)))),
    Route("/api/errors/mistakes", json_route(lambda lab, q: lab.tags.mistakes(
        _current(lab, q), _opt_digit(q, "true"), _opt_digit(q, "predicted"), min(200, _int(q, "limit", 48))))),
    Route("/api/errors/image.png", png_route(lambda lab, q: lab.tags.digit_png(q.get("index")))),
    Route("/api/errors/tag", json_body_route(_tag), methods=["POST"]),
    Route("/api/play", json_body_route(lambda lab, q, body: lab.play.start(body)), methods=["POST"]),
    Route("/api/play/stop", json_body_route(_no_body(lambda lab: lab.play.stop())), methods=["POST"]),
    Route("/api/play/events", json_route(lambda lab, q: lab.play.events(_int(q, "since")))),
    Route("/api/search/list", json_route(lambda lab, q: lab.searches.listing())),
    Route("/api/search/trials", json_route(lambda lab, q: lab.searches.trials(q.get("storage"), q.get("study")))),
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


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers: a connection that has
    not sent a complete request head HEADER_TIMEOUT seconds after it opened (or after its last answer) is
    closed, however slowly it trickles bytes in (uvicorn times out only idle keep-alive connections)."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self):
        super().on_response_complete()
        self._arm_head_deadline()

    def _arm_head_deadline(self):
        handle = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timeout)

    def _head_timeout(self):
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc):
        handle = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, telling the lab at Ctrl-C / SIGTERM (before uvicorn waits for open connections), so
    event streams end at once instead of being cancelled with a traceback."""

    def __init__(self, config, closing: threading.Event):
        super().__init__(config)
        self.closing = closing

    def handle_exit(self, sig, frame):
        self.closing.set()
        super().handle_exit(sig, frame)


class LabServer:
    """The lab on a listening socket: its token, the host names it answers to, and a uvicorn server.
    `serve()` blocks (the CLI; Ctrl-C stops it), `start()` serves in a thread (tests, scripts), `close()`."""

    def __init__(self, lab: Lab, host="127.0.0.1", port=0, token=None, allowed_hosts=(), header_timeout=None):
        self.lab = lab
        self.token = token or secrets.token_urlsafe(24)
        self.allowed_hosts = LOCAL_HOSTS | {h.lower() for h in allowed_hosts}
        self.closing = threading.Event()
        self.socket = _listen(host, port)
        self.server_address = self.socket.getsockname()[:2]
        self.cookie = f"{COOKIE}_{self.port}"  # cookies ignore ports: one per lab on this machine
        protocol = type("LabH11", (HeadTimeoutH11,), {"header_timeout": header_timeout or HEADER_TIMEOUT})
        config = uvicorn.Config(create_app(self), http=protocol, ws="none", loop="asyncio", lifespan="off",
                                log_config=None, log_level="error", access_log=False, proxy_headers=False,
                                server_header=False, timeout_graceful_shutdown=2, timeout_keep_alive=KEEP_ALIVE,
                                h11_max_incomplete_event_size=MAX_HEAD)
        self.uvicorn = _Uvicorn(config, self.closing)
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

    def close(self, wait=60.0):
        """Stop serving (open streams end within SSE_WAIT), stop the lab's jobs (waiting up to `wait` s for a
        stopped training run to save its model), free the port."""
        self.closing.set()
        self.uvicorn.should_exit = True
        self.lab.close(wait)
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
