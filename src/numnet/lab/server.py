"""The lab's local web server (standard library only: works offline, nothing to install).

Every request needs the lab's token: the `token` query parameter (the URL printed at start; it is then kept
in a SameSite=Strict cookie), the cookie, or an `X-Lab-Token` / `Authorization: token ...` header; without
it the answer is 403. The Host header must name the machine the lab was started for (localhost / 127.0.0.1,
or the --host given), which defeats DNS rebinding. Bodies are limited (MAX_BODY), JSON is checked, names
are validated (core.check_name); a bad request gets a 4xx and the server keeps serving.
"""
from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import traceback
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from .core import Lab, LabError, NotFound, TooLarge

MAX_BODY = 5 * 1024 * 1024  # uploads and JSON bodies
COOKIE = "numnet_lab_token"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class LabServer(ThreadingHTTPServer):
    """An HTTP server holding the Lab, its token and the host names it answers to."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, lab: Lab, host="127.0.0.1", port=0, token=None, allowed_hosts=()):
        self.lab = lab
        self.token = token or secrets.token_urlsafe(24)
        self.allowed_hosts = LOCAL_HOSTS | {h.lower() for h in allowed_hosts}
        self.closing = threading.Event()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.cookie = f"{COOKIE}_{self.port}"  # cookies ignore ports: one per lab on this machine

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

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, scripts); stop with `close()`."""
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="lab-server", daemon=True)
        t.start()
        return t

    def close(self):
        self.closing.set()
        self.lab.close()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: LabServer
    server_version = "numnet-lab"
    protocol_version = "HTTP/1.0"  # one request per connection; streams end when the connection closes

    def log_message(self, format, *args):  # quiet: the terminal shows the URL, not every request
        pass

    # ------------------------------------------------------------------ plumbing
    def send_bytes(self, status, body: bytes, ctype, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, status=200, headers=()):
        self.send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    def send_error_json(self, status, message):
        self.close_connection = True
        self.send_json({"error": message}, status)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[:host.find("]") + 1] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if ":" in host else host
        return name in self.server.allowed_hosts

    def _token_ok(self, query) -> tuple[bool, bool]:
        """(authorised, came from the query: set the cookie)."""
        want = self.server.token.encode()
        given = query.get("token", [None])[0]
        if given is not None:
            return hmac.compare_digest(given.encode(), want), True
        header = self.headers.get("X-Lab-Token") or ""
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("token "):
            header = header or auth[6:].strip()
        if header:
            return hmac.compare_digest(header.encode(), want), False
        try:
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            return False, False
        if self.server.cookie in cookie:
            return hmac.compare_digest(cookie[self.server.cookie].value.encode(), want), False
        return False, False

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise LabError("a request body needs a Content-Length")
        try:
            n = int(length)
        except ValueError:
            raise LabError("bad Content-Length") from None
        if n < 0:
            raise LabError("bad Content-Length")
        if n > MAX_BODY:
            self._drain(n)
            raise TooLarge(f"the body is {n} bytes; the limit is {MAX_BODY // (1024 * 1024)} MB")
        return self.rfile.read(n)

    def _drain(self, n):
        """Read and drop a refused body (up to 16 x MAX_BODY) so the client gets the 413, not a reset."""
        if n > 16 * MAX_BODY:
            return
        self.connection.settimeout(5)
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                break
            n -= len(chunk)

    def _json(self) -> dict:
        try:
            body = json.loads(self._body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LabError(f"malformed JSON: {e}") from None
        if not isinstance(body, dict):
            raise LabError("the JSON body must be an object")
        return body

    # ------------------------------------------------------------------ dispatch
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        try:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if not self._host_ok():
                return self.send_error_json(403, "host not allowed")
            ok, from_query = self._token_ok(query)
            if not ok:
                return self.send_error_json(403, "missing or wrong token: open the URL the lab printed")
            route = ROUTES.get((method, parts.path))
            if route is None:
                if method == "GET" and parts.path in STATIC:
                    name, ctype = STATIC[parts.path]
                    headers = [("Content-Security-Policy", CSP)]
                    if from_query:
                        headers.append(("Set-Cookie", f"{self.server.cookie}={self.server.token}; Path=/; HttpOnly; "
                                                      "SameSite=Strict"))
                    return self.send_bytes(200, _static(name), ctype, headers)
                return self.send_error_json(404 if method == "GET" else 405, f"no such page: {parts.path}")
            q = {k: v[0] for k, v in query.items()}
            route(self, self.server.lab, q)
        except LabError as e:
            self.send_error_json(e.status, str(e))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the lab
            traceback.print_exc()
            try:
                self.send_error_json(500, f"internal error: {type(e).__name__}: {e}")
            except OSError:
                pass

    # ------------------------------------------------------------------ server-sent events
    def stream_training(self, lab: Lab, since: int):
        """Server-sent events of the current run from event `since` (or after the Last-Event-ID that a
        reconnecting EventSource sends), then an "end" event."""
        job = lab.train_job
        last = self.headers.get("Last-Event-ID", "")
        if last.isdigit():
            since = max(since, int(last) + 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if job is None:
            self.wfile.write(b'data: {"type": "idle"}\n\n')
            return
        while not self.server.closing.is_set():
            events, ended = job.wait_events(since, 10.0)
            for ev in events:
                self.wfile.write(f"id: {ev['i']}\ndata: {json.dumps(ev)}\n\n".encode())
            since += len(events)
            if ended and since >= len(job.events):
                self.wfile.write(f'data: {json.dumps({"type": "end", "status": job.status})}\n\n'.encode())
                self.wfile.flush()
                return
            if not events:
                self.wfile.write(b": keep-alive\n\n")
            self.wfile.flush()


# ---------------------------------------------------------------------------------------------- routes
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


def _state(h, lab, q):
    from ..runs.settings import recipe_names
    from ..train.optimizers import OPTIMIZERS

    h.send_json({"models": lab.models(), "recipes": recipe_names(), "optimizers": OPTIMIZERS.names(),
                 "training": lab.training_status()["status"], "workdir": lab.workdir.name})


def _predict(h, lab, q):
    invert = {"auto": "auto", "yes": True, "no": False}.get(q.get("invert", "auto"))
    if invert is None:
        raise LabError("invert must be auto, yes or no")
    body = h._body()
    h.send_json(lab.predict(_current(lab, q), body, invert))


def _recipe(h, lab, q):
    from ..runs.run import resolve_settings

    try:
        settings = resolve_settings(q.get("name") or None)
    except ValueError as e:
        raise NotFound(str(e)) from None
    settings.pop("seed", None)
    h.send_json(settings)


def _png(h, data):
    h.send_bytes(200, data, "image/png")


ROUTES = {
    ("GET", "/api/state"): _state,
    ("GET", "/api/recipe"): _recipe,
    ("GET", "/api/models"): lambda h, lab, q: h.send_json({"models": lab.models()}),
    ("POST", "/api/predict"): _predict,
    ("POST", "/api/train"): lambda h, lab, q: h.send_json(lab.start_training(h._json())),
    ("POST", "/api/train/quick"): lambda h, lab, q: h.send_json(lab.start_training(h._json(), quick=True)),
    ("POST", "/api/train/stop"): lambda h, lab, q: h.send_json(lab.stop_training()),
    ("GET", "/api/train/status"): lambda h, lab, q: h.send_json(lab.training_status()),
    ("GET", "/api/train/events"): lambda h, lab, q: h.stream_training(lab, _int(q, "since")),
    ("GET", "/api/inside"): lambda h, lab, q: h.send_json(lab.inside(_current(lab, q))),
    ("GET", "/api/inside/weights.png"): lambda h, lab, q: _png(h, lab.weights_png(_current(lab, q),
                                                                                   min(256, _int(q, "count", 64)))),
    ("GET", "/api/errors/confusion"): lambda h, lab, q: h.send_json(lab.confusion(_current(lab, q))),
    ("GET", "/api/errors/mistakes"): lambda h, lab, q: h.send_json(
        lab.mistakes(_current(lab, q), _opt_digit(q, "true"), _opt_digit(q, "predicted"),
                     min(200, _int(q, "limit", 48)))),
    ("GET", "/api/errors/image.png"): lambda h, lab, q: _png(h, lab.digit_png(q.get("index"))),
    ("POST", "/api/errors/tag"): lambda h, lab, q: _tag(h, lab, h._json()),
    ("POST", "/api/play"): lambda h, lab, q: h.send_json(lab.start_playground(h._json())),
    ("POST", "/api/play/stop"): lambda h, lab, q: h.send_json(lab.stop_playground()),
    ("GET", "/api/play/events"): lambda h, lab, q: h.send_json(lab.playground_events(_int(q, "since"))),
}


def _tag(h, lab, body):
    if "index" not in body:
        raise LabError("index missing")
    h.send_json(lab.tag(_current(lab, body), body["index"], body.get("tags", "")))


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


def make_server(workdir=".", model=None, host="127.0.0.1", port=8765, token=None, tries=20) -> LabServer:
    """A LabServer on `port` (or the next free one of `tries`; port 0: any free port)."""
    lab = Lab(workdir, model)
    allowed = () if host in ("127.0.0.1", "localhost") else (host,)
    last = None
    for p in ([0] if port == 0 else range(port, port + tries)):
        try:
            return LabServer(lab, host, p, token, allowed)
        except OSError as e:
            last = e
    raise OSError(f"no free port in {port}-{port + tries - 1}: {last}")


__all__ = ["LabServer", "make_server", "open_browser", "MAX_BODY"]
