"""Reading JSON from files numnet did not necessarily write: bounded in size and nesting depth, every failure
a ValueError naming the source (never a RecursionError or MemoryError traceback)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from .files import regular_file

#: largest JSON document numnet reads (bytes); a model's `__meta__` or a history is far smaller
MAX_JSON_BYTES = 256 * 2**20
#: deepest nesting of arrays/objects accepted (numnet's own files nest fewer than 10 levels)
MAX_JSON_DEPTH = 100

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(data: bytes) -> int:
    """Deepest nesting of [ and { in JSON bytes, strings skipped; computed without recursion."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(data, what, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH):
    """Decode JSON text or UTF-8 bytes; a document too large, nested too deeply or malformed is a ValueError
    beginning with `what`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise ValueError(f"{what} is too large for a numnet JSON document ({len(data)} bytes, limit {max_bytes})")
    if json_depth(data) > max_depth:
        raise ValueError(f"{what} is nested too deeply (more than {max_depth} levels of arrays/objects): "
                         "not a numnet file")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} is not valid JSON (not UTF-8 text: {e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} is not valid JSON: {e}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError(f"{what} is nested too deeply: not a numnet file") from None
    except ValueError as e:  # json.loads's own: an integer of more than 4300 digits
        raise ValueError(f"{what} is not valid JSON: {e}") from None


def read_json(path, what, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH):
    """Read and decode a JSON file (see `parse_json`); its size is checked before it is read."""
    path = regular_file(path, what)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{what} is too large for a numnet JSON document ({size} bytes, limit {max_bytes})")
    with open(path, "rb") as f:
        data = f.read(size + 1)  # a read allocates its whole length first: never the limit itself
        if len(data) > size:  # the file grew meanwhile
            data += f.read(max_bytes + 1 - len(data))
    return parse_json(data, what, max_bytes, max_depth)
