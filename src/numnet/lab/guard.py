"""The lab's HTTP guard and body reading, before any route runs: the Host header, the token, requests from
another origin, the safety headers on every answer; bodies read as a stream within their size and time limits,
JSON parsed strictly. See numnet.lab.server's docstring for the rules and why."""
from __future__ import annotations

import asyncio
import hmac
import json
import time
from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .base import LabError, TooLarge

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
HEADER_TIMEOUT = 10.0  # seconds a connection may take to send a request's line and headers
KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open
BODY_TIMEOUT = 60.0  # seconds a request may take to send its body
MAX_HEAD = 32 * 1024  # bytes of request line and headers (h11's limit)
MAX_DIGITS = 30  # a longer integer in a JSON body is refused, not parsed
TOKEN_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>numnet lab: token needed</title>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 3em auto; color: #1d2330">
<h1>numnet lab: missing or wrong token</h1>
<p>This page needs the lab's token. Open the URL that <code>numnet lab</code> printed in its terminal
(it ends in <code>?token=...</code>).</p>
<p>If the lab was restarted, its token changed: the old address and tab no longer work; use the new URL.</p>
</body></html>
"""


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


def cross_origin(headers: Headers, scope) -> str | None:
    """Why a request from another origin is refused, or None. API calls and anything but GET/HEAD must come
    from the lab's own page: Sec-Fetch-Site same-origin (or none: typed in the address bar, or not a
    browser) and no Origin but the lab's own."""
    if scope["method"] in ("GET", "HEAD") and not scope["path"].startswith("/api/"):
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return f"refused: a request from another site or origin ({site}); use the lab's own page"
    origin = headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") != f"http://{headers.get('host', '').lower()}":
        return f"refused: a request from another origin ({origin[:100]}); use the lab's own page"
    return None


class Guard:
    """ASGI middleware before every route: checks the Host header and the token (403 otherwise) and adds the
    safety headers to every answer."""

    def __init__(self, app, server):  # server: the LabServer (its token, cookie name and allowed hosts)
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
        why = cross_origin(headers, scope)
        if why:
            return await error(403, why)(scope, receive, send_safe)
        ok, from_query = token_ok(headers, QueryParams(scope.get("query_string", b"")), self.server.token,
                                  self.server.cookie)
        if not ok:
            if scope["path"] in STATIC and scope["method"] in ("GET", "HEAD"):
                page = Response(TOKEN_PAGE, 403, media_type="text/html; charset=utf-8")
                return await page(scope, receive, send_safe)
            return await error(403, "missing or wrong token: open the URL the lab printed (a restarted lab "
                               "has a new one)")(scope, receive, send_safe)
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
    stream = request.stream()
    deadline = time.monotonic() + BODY_TIMEOUT
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(0.1, deadline - time.monotonic()))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise LabError(f"the body did not arrive within {BODY_TIMEOUT:.0f} s") from None
        seen += len(chunk)
        if seen > DRAIN_LIMIT:
            break
        if declared <= limit and seen <= limit:
            body += chunk
    if declared > limit or seen > limit:
        raise TooLarge(too_large)
    return bytes(body)


class WrongType(LabError):
    status = 415


def _no_constant(name):
    raise LabError(f"malformed JSON: {name} is not a number the lab takes")


def _int_literal(text):
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise LabError(f"malformed JSON: a number of {len(text)} digits")
    return int(text)


def _float_literal(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise LabError(f"malformed JSON: {text[:40]} is too large")
    return value


def parse_json(data: bytes) -> dict:
    """A JSON object, parsed strictly: NaN, Infinity, overflowing and very long numbers refused."""
    try:
        body = json.loads(data or b"{}", parse_constant=_no_constant, parse_int=_int_literal,
                          parse_float=_float_literal)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabError(f"malformed JSON: {e}") from None
    except RecursionError:
        raise LabError("malformed JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise LabError("the JSON body must be an object")
    return body


async def read_json(request: Request) -> dict:
    """The request's JSON object; only a body sent as application/json is read (see the module docstring)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise WrongType(f"send the body as Content-Type: application/json (got {ctype[:60] or 'none'})")
    return parse_json(await read_body(request))
