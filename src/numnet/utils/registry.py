"""One registry mechanism for every named part (layers, activations, costs, initializers, optimizers,
schedules): name -> class (or function) with the constructor arguments it accepts.

Files and command lines name parts only through a registry, never through `getattr` on a module, so a
model file can build nothing numnet (or a user's own registration) did not put there.

    @ACTIVATIONS.register
    class Swish(Activation): name = "swish"; ...

adds an activation that `--activation swish`, config files, `numnet gradcheck` and `numnet.load` all know.
"""
from __future__ import annotations

import inspect


def normalize(name) -> str:
    """Names compare case-insensitively with '-' and '_' alike: "Leaky-ReLU" is "leaky_relu"."""
    return str(name).strip().lower().replace("-", "_")


class Registry:
    """name -> entry. `register` is a decorator (or a call) taking an optional name and aliases."""

    def __init__(self, kind: str, *, parent: "Registry | None" = None):
        self.kind = kind
        self.parent = parent  # entries are also registered there (every activation is a layer)
        self._entries: dict[str, object] = {}
        self._aliases: dict[str, str] = {}

    def register(self, entry=None, *, name=None, aliases=()):
        def add(obj):
            key = normalize(name or getattr(obj, "name", None) or obj.__name__)
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is already registered ({self._entries[key]!r})")
            self._entries[key] = obj
            for alias in aliases:
                self._aliases[normalize(alias)] = key
            if self.parent is not None:
                self.parent.register(obj, name=key)
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name) -> None:
        """Remove a name (and its aliases); for tests and plug-ins that clean up after themselves."""
        key = self.resolve(name)
        obj = self._entries.pop(key)
        self._aliases = {a: k for a, k in self._aliases.items() if k != key}
        if self.parent is not None and self.parent._entries.get(key) is obj:
            self.parent.unregister(key)

    def resolve(self, name) -> str:
        """The canonical name for `name` or an alias of it; unknown names are a ValueError listing the known."""
        if not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a string, got {name!r}")
        key = normalize(name)
        key = self._aliases.get(key, key)
        if key not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return key

    def get(self, name):
        return self._entries[self.resolve(name)]

    def __contains__(self, name) -> bool:
        try:
            self.resolve(name)
        except ValueError:
            return False
        return True

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return list(self._entries.items())

    # read like a dict of canonical names (`sorted(COSTS)`, `COSTS["quadratic"]`, `len(LAYERS)`)
    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name):
        return self.get(name)

    def keys(self):
        return self.names()

    def values(self):
        return list(self._entries.values())

    def params(self, name) -> dict[str, inspect.Parameter]:
        """The constructor's keyword arguments (name -> inspect.Parameter), `self` and *args/**kwargs aside."""
        obj = self.get(name)
        target = obj.__init__ if isinstance(obj, type) else obj
        return {p.name: p for p in inspect.signature(target).parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def create(self, name, **kwargs):
        """Build `name` with keyword arguments; unknown or missing arguments are a ValueError naming them."""
        key = self.resolve(name)
        params = self.params(key)
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise ValueError(f"unknown parameter(s) for {self.kind} {key!r}: {', '.join(unknown)} "
                             f"(allowed: {', '.join(params) or 'none'})")
        missing = [p for p, s in params.items() if s.default is s.empty and p not in kwargs]
        if missing:
            raise ValueError(f"{self.kind} {key!r} needs parameter(s): {', '.join(missing)}")
        return self._entries[key](**kwargs)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
