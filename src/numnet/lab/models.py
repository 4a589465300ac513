"""The lab's models: the one given on the command line and the .npz files in its working directory, loaded
once per file version; the MNIST test set and each model's predictions on it, cached."""
from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np

from ..data.mnist import load_mnist
from ..model.network import Network, load
from .base import NAME_RE, LabError, NotFound, check_name, plain_message


class Models:
    """Finds, loads and caches models by name; `lock` guards every computation on a loaded model (layers
    keep caches) and the caches themselves."""

    def __init__(self, workdir, model=None):
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise FileNotFoundError(f"lab directory not found: {workdir}")
        self.given: dict[str, Path] = {}
        if model is not None:
            path = Path(model).resolve()
            n_in = load(path).n_in  # fail now, in one line, when the file is not an MNIST model
            if n_in != 784:
                raise ValueError(f"{model} takes {n_in} inputs; the lab needs a 784-input MNIST model")
            self.given[check_name(path.name)] = path
        self.lock = threading.RLock()
        self._models: dict[str, tuple[float, Network]] = {}
        self._broken: dict[str, tuple[float, str]] = {}  # name -> (mtime, why it does not load)
        self._test = None
        self._preds: dict[tuple, tuple] = {}

    def names(self) -> list[str]:
        """The given model, then the working directory's models (regular files, not links), newest first."""
        found = []
        for entry in os.scandir(self.workdir):
            if NAME_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
                found.append((-entry.stat(follow_symlinks=False).st_mtime, entry.name))
        return list(self.given) + [n for _, n in sorted(found) if n not in self.given]

    def path(self, name) -> Path:
        name = check_name(name)
        path = self.given.get(name) or self.workdir / name
        try:
            st = path.stat() if name in self.given else path.lstat()
        except OSError:
            raise NotFound(f"no model named {name!r}") from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"no model named {name!r}")
        return path

    def get(self, name) -> Network:
        path = self.path(name)
        mtime = path.stat().st_mtime
        with self.lock:
            cached = self._models.get(name)
            if cached is None or cached[0] != mtime:
                try:
                    net = load(path)
                except (ValueError, OSError) as e:
                    raise LabError(f"{name}: {plain_message(e)}") from None
                if net.n_in != 784:
                    raise LabError(f"{name} takes {net.n_in} inputs; the lab needs a 784-input MNIST model")
                self._models[name] = cached = (mtime, net)
            return cached[1]

    def current(self, name=None) -> str:
        """`name`, or when none is asked for the newest model that loads (a newer file that is no model, or
        a link, does not hide the others)."""
        if name:
            return name
        names = self.names()
        for candidate in names:
            try:
                mtime = self.path(candidate).stat().st_mtime
            except LabError:
                continue
            if self._broken.get(candidate, (None,))[0] == mtime:
                continue
            try:
                self.get(candidate)
                return candidate
            except LabError as e:
                self._broken[candidate] = (mtime, str(e))
        if names:
            raise NotFound("no usable model here: " + "; ".join(why for _, why in self._broken.values()))
        raise NotFound("no model yet: train one in the Train panel")

    def test_set(self):
        with self.lock:
            if self._test is None:
                self._test = load_mnist(validation_size=0)[2]
            return self._test

    def predictions(self, name):
        """(labels, predicted digits, their probability, all probabilities) of model `name` on the test set."""
        net = self.get(name)
        key = (name, self.path(name).stat().st_mtime)
        with self.lock:
            if key not in self._preds:
                X, y = self.test_set()
                proba = net.predict_proba(X.astype(net.dtype))
                pred = proba.argmax(axis=1)
                self._preds = {key: (y, pred, proba[np.arange(len(pred)), pred], proba)}
            return self._preds[key]
