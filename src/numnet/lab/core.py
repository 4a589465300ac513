"""What the lab computes, apart from HTTP: the models in its working directory, predictions on drawn or
uploaded digits (with the preprocessed input and hidden activations), training runs in a background thread
streaming their metrics, the inside of a model (first-layer weights, activation histograms, gradient
health), the 2-D playground, the test mistakes with their tags in errors.csv, and the searches (Optuna
journal files) in the working directory, read while they run.

Every name that comes from a request is checked here: models are plain file names inside the working
directory (or the one model given on the command line), searches are journal files found inside it (or the
storage given on the command line), never paths taken from the request.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import threading
import time
from pathlib import Path

import numpy as np

from ..data.images import ImageTooLarge, digit_to_image, load_digit
from ..data.mnist import load_mnist
from ..data.toy import make_circles, make_flower, make_moons, make_spirals
from ..model.network import Network, load
from ..report.analysis import confusion_matrix
from ..runs.run import resolve_settings, run
from ..train.callbacks import Callback
from ..train.optimizers import OPTIMIZERS, make_optimizer
from ..utils.backend import DeviceError, require_device
from ..utils.files import write_text_atomic

MAX_PIXELS = 25_000_000  # uploads with more pixels are refused from their header, before decoding
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\.npz$")
ERRORS_CSV = "errors.csv"
ERRORS_COLUMNS = ["index", "true", "predicted", "confidence", "tags"]
QUICK = {"sizes": [784, 100, 10], "optimizer": "adam", "lr": 0.002, "epochs": 2, "batch_size": 64,
         "train_size": 20000, "validation_size": 2000}
TRAIN_KEYS = {"sizes": list, "lr": float, "epochs": int, "optimizer": str, "train_size": int, "batch_size": int,
              "activation": str, "l2": float, "validation_size": int, "seed": int, "device": str}
TOYS = {"moons": make_moons, "circles": make_circles, "spirals": make_spirals, "flower": make_flower}
JOURNAL_MAGIC = b'{"op_code":'  # how every Optuna journal file starts
SEARCH_DEPTH = 2  # journal files are looked for in the working directory and two levels of folders below
SEARCH_SCAN = 5000  # at most this many directory entries are looked at per listing
STORAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$")
GIVEN_STORAGE = ":storage"  # the id of the storage given with `numnet lab --storage`
NO_OPTUNA = 'the Search panel needs Optuna: pip install "numnet[search]"'


class LabError(Exception):
    """A request the lab refuses; `status` is the HTTP status (400 unless a subclass says otherwise)."""

    status = 400


class NotFound(LabError):
    status = 404


class TooLarge(LabError):
    status = 413


class Busy(LabError):
    status = 409


class Unavailable(LabError):
    status = 501


def check_name(name) -> str:
    """A model name: a plain .npz file name (letters, digits, '_', '-', '.'), never a path."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise LabError(f"bad model name {name!r}: a file name like run-1.npz, no paths")
    return name


def _rounded(a, digits=4):
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def layer_outputs(net: Network, X):
    """(hidden activations: the input of every Dense layer but the first, output probabilities)."""
    outputs = net.layer_outputs(net.prepare_inputs(X))
    hidden = [a for a, nxt in zip(outputs, net.layers[1:]) if getattr(nxt, "changes_width", False)]
    return hidden, outputs[-1]


class _Stream(Callback):
    """Streams a run's batches (about 50 per epoch) and epochs into its job; stops when asked to."""

    def __init__(self, job):
        self.job = job

    def on_train_begin(self, trainer):
        self.every = max(1, math.ceil(trainer.n_train / trainer.batch_size) // 50)
        self.batches = math.ceil(trainer.n_train / trainer.batch_size)
        self.job.emit({"type": "begin", "epochs": trainer.epochs, "batches": self.batches, "n_train": trainer.n_train})
        return self.job.stopping.is_set()

    def on_batch_end(self, trainer, batch, cost):
        if batch % self.every == 0 or batch == self.batches:
            self.job.emit({"type": "batch", "epoch": trainer.epoch, "batch": batch, "cost": float(cost),
                           "x": trainer.epoch - 1 + batch / self.batches})
        return self.job.stopping.is_set()

    def on_epoch_end(self, trainer, epoch, logs):
        self.job.emit({"type": "epoch", "epoch": epoch, **{k: (None if v is None else float(v))
                                                           for k, v in logs.items() if isinstance(v, (int, float))
                                                           or v is None}})
        return self.job.stopping.is_set()


class Job:
    """A background thread with an event list that readers follow (server-sent events or polling)."""

    def __init__(self, kind, target):
        self.kind, self.status = kind, "running"
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(target,), name=f"lab-{kind}", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def emit(self, event):
        with self.cond:
            event["i"] = len(self.events)
            self.events.append(event)
            self.cond.notify_all()

    def _main(self, target):
        try:
            target(self)
            status = "stopped" if self.stopping.is_set() else "done"
        except Exception as e:  # noqa: BLE001 - reported to the page, the server keeps running
            self.emit({"type": "error", "message": f"{type(e).__name__}: {e}"})
            status = "error"
        with self.cond:
            self.status = status
            self.cond.notify_all()

    @property
    def running(self):
        return self.status == "running"

    def wait_events(self, since, timeout):
        """Events from index `since` (waiting up to `timeout` s for one while running), and whether it ended."""
        with self.cond:
            if len(self.events) <= since and self.running:
                self.cond.wait(timeout)
            return self.events[since:], not self.running


class Lab:
    """The lab's state: its working directory, loaded models, the training and playground jobs."""

    def __init__(self, workdir=".", model=None, storage=None):
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise FileNotFoundError(f"lab directory not found: {workdir}")
        self.given: dict[str, Path] = {}
        if model is not None:
            path = Path(model).resolve()
            if load(path).n_in != 784:  # fail now, in one line, when the file is not an MNIST model
                raise ValueError(f"{model} takes {load(path).n_in} inputs; the lab needs a 784-input MNIST model")
            self.given[check_name(path.name)] = path
        self.lock = threading.RLock()  # model computations (layers keep caches) and errors.csv
        self._models: dict[str, tuple[float, Network]] = {}
        self._test = None
        self._preds: dict[tuple, tuple] = {}
        self.train_job: Job | None = None
        self.play_job: Job | None = None
        self.storage = None if storage is None else str(storage)  # `numnet lab --storage`: a URL or journal file
        self._storages: dict[str, tuple] = {}  # id -> (file identity, read-only Optuna storage)

    # ------------------------------------------------------------------ models
    def models(self) -> list[str]:
        """The given model, then the working directory's models, newest first."""
        found = sorted((p for p in self.workdir.glob("*.npz") if NAME_RE.match(p.name) and p.is_file()),
                       key=lambda p: -p.stat().st_mtime)
        return list(self.given) + [p.name for p in found if p.name not in self.given]

    def model_path(self, name) -> Path:
        name = check_name(name)
        path = self.given.get(name) or self.workdir / name
        if not path.is_file() or path.resolve().parent != (path.parent.resolve()):
            raise NotFound(f"no model named {name!r}")
        return path

    def model(self, name) -> Network:
        path = self.model_path(name)
        mtime = path.stat().st_mtime
        with self.lock:
            cached = self._models.get(name)
            if cached is None or cached[0] != mtime:
                try:
                    net = load(path)
                except (ValueError, OSError) as e:
                    raise LabError(f"{name}: {e}") from None
                if net.n_in != 784:
                    raise LabError(f"{name} takes {net.n_in} inputs; the lab needs a 784-input MNIST model")
                self._models[name] = cached = (mtime, net)
            return cached[1]

    def test_set(self):
        with self.lock:
            if self._test is None:
                self._test = load_mnist(validation_size=0)[2]
            return self._test

    # ------------------------------------------------------------------ draw
    def predict(self, name, image: bytes, invert="auto") -> dict:
        net = self.model(name)
        try:
            x = load_digit(image, invert=invert, dtype=net.dtype.name, max_pixels=MAX_PIXELS)
        except ImageTooLarge as e:
            raise TooLarge(str(e)) from None
        except ValueError as e:
            raise LabError(str(e)) from None
        with self.lock:
            hidden, proba = layer_outputs(net, x[None])
        p = proba[0]
        return {"model": name, "digit": int(np.argmax(p)), "probabilities": _rounded(p),
                "input": _rounded(x, 3), "hidden": [_rounded(h[0], 3) for h in hidden]}

    # ------------------------------------------------------------------ train
    def start_training(self, body: dict, quick=False) -> dict:
        if self.train_job is not None and self.train_job.running:
            raise Busy("a run is already training; stop it first")
        recipe = body.get("recipe") or None
        if recipe is not None and not isinstance(recipe, str):
            raise LabError("recipe must be a name")
        overrides = dict(QUICK) if quick else {}
        for key, kind in TRAIN_KEYS.items():
            value = body.get(key)
            if value is None or value == "":
                continue
            try:
                if kind is list:
                    value = [int(v) for v in (value.split(",") if isinstance(value, str) else value)]
                elif isinstance(value, (dict, list, bool)):
                    raise TypeError
                else:
                    value = kind(value)
            except (TypeError, ValueError):
                raise LabError(f"{key}: bad value {value!r}") from None
            overrides[key] = value
        try:
            settings = resolve_settings(recipe, None, overrides)
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise LabError(str(e)) from None
        try:
            require_device(settings["device"])  # no CuPy or no GPU: refused now, not inside the run
        except DeviceError as e:
            raise LabError(str(e)) from None
        if settings["sizes"][0] != 784 or settings["sizes"][-1] != 10:
            raise LabError("the lab trains MNIST networks: sizes must start with 784 and end with 10")
        if len(settings["sizes"]) > 10 or max(settings["sizes"][1:]) > 4096 or not 1 <= settings["epochs"] <= 1000:
            raise LabError("too big for the lab: at most 8 hidden layers of 4096 units and 1000 epochs")
        overrides["seed"] = settings["seed"]
        name = self._new_name(body.get("name"))
        out = self.workdir / name

        def target(job):
            r = run(recipe, None, overrides, out=out, callbacks=[_Stream(job)], verbose=0)
            job.emit({"type": "done", "model": name, "epochs": len(r.history), "stopped": job.stopping.is_set(),
                      "test_accuracy": None if r.test is None else r.test.accuracy, "seconds": r.seconds})

        self.train_job = Job("train", target)
        self.train_job.model = name
        self.train_job.settings = settings
        self.train_job.start()
        return {"model": name, "settings": settings}

    def _new_name(self, wanted) -> str:
        if wanted:
            name = check_name(wanted if str(wanted).endswith(".npz") else f"{wanted}.npz")
            if (self.workdir / name).exists() or name in self.given:
                raise Busy(f"a model named {name} exists already")
            return name
        n = 1
        while (self.workdir / f"lab-run-{n}.npz").exists() or f"lab-run-{n}.npz" in self.given:
            n += 1
        return f"lab-run-{n}.npz"

    def stop_training(self) -> dict:
        job = self.train_job
        if job is None or not job.running:
            return {"stopping": False}
        job.stopping.set()
        return {"stopping": True}

    def training_status(self) -> dict:
        job = self.train_job
        if job is None:
            return {"status": "idle", "events": []}
        with job.cond:
            return {"status": job.status, "model": job.model, "events": list(job.events)}

    # ------------------------------------------------------------------ inside
    def weights_png(self, name, count=64) -> bytes:
        """The first Dense layer's weights into `count` hidden units as 28x28 tiles (blue < 0 < red)."""
        net = self.model(name)
        W = np.asarray(net.layers[0].params["W"], dtype=np.float64)[:, :max(1, count)]
        n = W.shape[1]
        cols = min(n, 16)
        rows = math.ceil(n / cols)
        tile, gap = 28 * 2, 2
        img = np.full((rows * (tile + gap) + gap, cols * (tile + gap) + gap, 3), 255, np.uint8)
        for j in range(n):
            w = W[:, j].reshape(28, 28)
            w = w / (np.abs(w).max() or 1.0)
            rgb = np.stack([1 - np.clip(-w, 0, 1), 1 - np.abs(w), 1 - np.clip(w, 0, 1)], axis=-1)
            rgb = np.kron(rgb, np.ones((2, 2, 1)))
            r, c = divmod(j, cols)
            y0, x0 = gap + r * (tile + gap), gap + c * (tile + gap)
            img[y0:y0 + tile, x0:x0 + tile] = np.round(rgb * 255).astype(np.uint8)
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format="PNG")
        return buffer.getvalue()

    def inside(self, name, n=1000, bins=30) -> dict:
        """Activation histograms of each hidden layer on n test images; gradient norms per Dense layer."""
        net = self.model(name)
        X, y = self.test_set()
        X, y = X[:n].astype(net.dtype), y[:n]
        with self.lock:
            hidden, _ = layer_outputs(net, X)
            layers = []
            for i, h in enumerate(hidden):
                counts, edges = np.histogram(h, bins=bins)
                layers.append({"layer": i + 1, "units": int(h.shape[1]), "counts": counts.tolist(),
                               "edges": _rounded(edges), "mean": float(h.mean()), "std": float(h.std()),
                               "zero_fraction": float(np.mean(h == 0)),
                               "dead_units": int(np.sum(np.all(h == 0, axis=0)))})
            probe = net.copy()
            cost, grads_of = probe.loss_and_grads(X[:500], y[:500], training=False)
            grads = []
            for i, (layer, lg) in enumerate((l, g) for l, g in zip(probe.layers, grads_of) if "W" in l.params):
                w, g = layer.params["W"], lg["W"]
                wn, gn = float(np.linalg.norm(w)), float(np.linalg.norm(g))
                grads.append({"layer": i + 1, "shape": list(w.shape), "weight_norm": wn, "grad_norm": gn,
                              "ratio": gn / wn if wn else None})
        return {"model": name, "images": len(X), "activations": layers, "gradients": grads, "cost": float(cost),
                "sizes": net.sizes}

    # ------------------------------------------------------------------ errors
    def _predictions(self, name):
        net = self.model(name)
        key = (name, self.model_path(name).stat().st_mtime)
        with self.lock:
            if key not in self._preds:
                X, y = self.test_set()
                proba = net.predict_proba(X.astype(net.dtype))
                pred = proba.argmax(axis=1)
                self._preds = {key: (y, pred, proba[np.arange(len(pred)), pred])}
            return self._preds[key]

    def confusion(self, name) -> dict:
        y, pred, _ = self._predictions(name)
        C = confusion_matrix(y, pred, classes=10)
        return {"model": name, "confusion": C.tolist(), "accuracy": float(np.mean(y == pred)), "n": len(y)}

    def mistakes(self, name, true=None, predicted=None, limit=48) -> dict:
        y, pred, conf = self._predictions(name)
        wrong = pred != y
        if true is not None:
            wrong &= y == _digit(true, "true")
        if predicted is not None:
            wrong &= pred == _digit(predicted, "predicted")
        idx = np.flatnonzero(wrong)
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        tags = self.read_tags()
        rows = [{"index": int(i), "true": int(y[i]), "predicted": int(pred[i]), "confidence": round(float(conf[i]), 4),
                 "tags": tags.get(int(i), "")} for i in idx[:limit]]
        return {"model": name, "total": len(idx), "mistakes": rows}

    def digit_png(self, index) -> bytes:
        X, _ = self.test_set()
        i = _index(index, len(X))
        buffer = io.BytesIO()
        digit_to_image(X[i], scale=3).save(buffer, format="PNG")
        return buffer.getvalue()

    def read_tags(self) -> dict[int, str]:
        return {int(r["index"]): r["tags"] for r in self._read_csv()}

    def _read_csv(self) -> list[dict]:
        path = self.workdir / ERRORS_CSV
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as f:
            return [r for r in csv.DictReader(f) if r.get("index", "").isdigit()]

    def tag(self, name, index, tags) -> dict:
        """Set the free-text tags of test image `index` (a mistake of model `name`) in errors.csv;
        empty tags remove its row."""
        if not isinstance(tags, str) or len(tags) > 200:
            raise LabError("tags must be text of at most 200 characters")
        tags = " ".join(tags.split())
        y, pred, conf = self._predictions(name)
        i = _index(index, len(y))
        with self.lock:
            rows = {int(r["index"]): r for r in self._read_csv()}
            if tags:
                rows[i] = {"index": i, "true": int(y[i]), "predicted": int(pred[i]),
                           "confidence": f"{conf[i]:.4f}", "tags": tags}
            else:
                rows.pop(i, None)
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=ERRORS_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for k in sorted(rows):
                writer.writerow({c: rows[k][c] for c in ERRORS_COLUMNS})
            write_text_atomic(self.workdir / ERRORS_CSV, out.getvalue())
        return {"index": i, "tags": tags}

    # ------------------------------------------------------------------ search
    def journal_files(self) -> list[str]:
        """The Optuna journal files (numnet search's DIR/journal.log, or any --storage file) in the working
        directory and its folders down to SEARCH_DEPTH, as relative paths; hidden folders and links skipped."""
        found, seen = [], 0
        for root, dirs, files in os.walk(self.workdir):
            depth = len(Path(root).relative_to(self.workdir).parts)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < SEARCH_DEPTH
                             and not os.path.islink(os.path.join(root, d)))
            for name in sorted(files):
                seen += 1
                path = Path(root, name)
                if (name.endswith(".log") or "journal" in name) and not path.is_symlink() and _is_journal(path):
                    found.append(path.relative_to(self.workdir).as_posix())
            if seen > SEARCH_SCAN:
                break
        return found

    def _search_storage(self, storage_id, listed=None):
        """The read-only Optuna storage of a listed search (reopened when its file was replaced); `listed`:
        the journal files just found, when the caller has them."""
        from ..search.study import SearchError, open_storage

        if not isinstance(storage_id, str) or not (storage_id == GIVEN_STORAGE or STORAGE_RE.match(storage_id)) \
                or ".." in storage_id.split("/"):
            raise LabError(f"bad search storage {storage_id!r}: a journal file listed by the Search panel")
        if storage_id == GIVEN_STORAGE:
            if self.storage is None:
                raise NotFound("no --storage was given to numnet lab")
            target = self.storage
        else:
            if storage_id not in (self.journal_files() if listed is None else listed):
                raise NotFound(f"no search journal {storage_id!r} in the lab's folder")
            target = str(self.workdir / storage_id)
        key = None
        if "://" not in target:
            try:
                st = os.stat(target)
            except OSError:
                raise NotFound(f"no search journal {target}") from None
            key = (st.st_dev, st.st_ino)
        with self.lock:
            cached = self._storages.get(storage_id)
            if cached is None or cached[0] != key:
                try:
                    cached = (key, open_storage(target, read_only=True))
                except SearchError as e:
                    raise LabError(str(e)) from None
                except Exception as e:  # noqa: BLE001 - Optuna refusing a damaged journal
                    raise LabError(f"cannot read this journal (damaged?): {_first_line(e)}") from None
                self._storages[storage_id] = cached
            return cached[1]

    def searches(self) -> dict:
        """The searches the lab can show: each storage (journal files here, the --storage given) with its
        studies; {"available": False, "message"} when Optuna is not installed."""
        try:
            from ..search.live import list_studies
            from ..search.study import import_optuna, redact

            import_optuna()
        except ImportError:
            return {"available": False, "message": NO_OPTUNA}
        found = self.journal_files()
        out = []
        for storage_id in ([GIVEN_STORAGE] if self.storage is not None else []) + found:
            label = redact(self.storage) if storage_id == GIVEN_STORAGE else storage_id
            try:
                studies = list_studies(self._search_storage(storage_id, found))
            except Exception as e:  # noqa: BLE001 - a damaged or unreachable storage is listed with its error
                out.append({"id": storage_id, "label": label, "studies": [], "error": _first_line(e)})
                continue
            out.append({"id": storage_id, "label": label, "studies": studies})
        return {"available": True, "storages": out}

    def search_trials(self, storage_id, study) -> dict:
        """A study's trials, settings and best trial, read from its storage (see search.live.study_trials)."""
        try:
            from ..search.live import StudyNotFound, study_trials
            from ..search.study import import_optuna

            import_optuna()
        except ImportError:
            raise Unavailable(NO_OPTUNA) from None
        if not isinstance(study, str) or not 0 < len(study) <= 200 or not study.isprintable():
            raise LabError("study must be a study name")
        storage = self._search_storage(storage_id)
        try:
            return {"storage": storage_id, **study_trials(storage, study)}
        except StudyNotFound as e:
            raise NotFound(str(e)) from None
        except ValueError as e:  # SearchError (not a numnet search), a journal damaged since it was opened
            raise LabError(_first_line(e)) from None

    # ------------------------------------------------------------------ playground
    def start_playground(self, body: dict) -> dict:
        if self.play_job is not None and self.play_job.running:
            self.play_job.stopping.set()
            self.play_job.thread.join(5)
        dataset = body.get("dataset", "moons")
        if dataset not in TOYS:
            raise LabError(f"dataset must be one of {', '.join(TOYS)}")
        try:
            noise = float(body.get("noise", 0.2))
            hidden = [int(v) for v in str(body.get("hidden", "8,8")).split(",") if v.strip()]
            lr = float(body.get("lr", 0.01))
            epochs = int(body.get("epochs", 300))
            batch = int(body.get("batch_size", 32))
            seed = int(body.get("seed", 1))
        except (TypeError, ValueError):
            raise LabError("bad playground settings") from None
        optimizers = body.get("optimizers") or ["adam"]
        if not isinstance(optimizers, list) or not all(isinstance(o, str) and o in OPTIMIZERS for o in optimizers):
            raise LabError(f"optimizers must be a list of: {', '.join(OPTIMIZERS.names())}")
        activation = body.get("activation", "tanh")
        if not (0 <= noise <= 1 and all(0 < h <= 64 for h in hidden) and len(hidden) <= 4 and 0 < lr <= 10
                and 0 < epochs <= 5000 and 0 < batch <= 1000):
            raise LabError("playground settings out of range (noise 0..1, up to 4 hidden layers of 64, "
                           "epochs up to 5000)")
        X, y = TOYS[dataset](n=300, noise=noise, seed=seed)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        classes = int(y.max()) + 1
        nets = {}
        for opt in dict.fromkeys(optimizers):
            try:
                nets[opt] = Network.from_sizes([2, *hidden, classes], activation=activation, output="softmax",
                                               cost="log_likelihood", init="he" if "relu" in activation else "xavier",
                                               seed=seed)
            except ValueError as e:
                raise LabError(str(e)) from None
        lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
        side = 48
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], side), np.linspace(hi[1], lo[1], side))
        grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
        every = max(1, epochs // 100)

        def target(job):
            threads = [threading.Thread(target=_train_toy, args=(job, opt, net, X, y, grid, lr, epochs, batch, seed,
                                                                 every), daemon=True) for opt, net in nets.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        self.play_job = Job("play", target)
        self.play_job.start()
        return {"points": _rounded(X, 3), "labels": y.tolist(), "classes": classes, "side": side,
                "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])], "optimizers": list(nets),
                "epochs": epochs}

    def stop_playground(self) -> dict:
        if self.play_job is not None:
            self.play_job.stopping.set()
        return {"stopping": True}

    def playground_events(self, since) -> dict:
        job = self.play_job
        if job is None:
            return {"status": "idle", "events": []}
        events, _ = job.wait_events(since, 0)
        return {"status": job.status, "events": events}

    def close(self):
        for job in (self.train_job, self.play_job):
            if job is not None:
                job.stopping.set()


def _train_toy(job, opt, net, X, y, grid, lr, epochs, batch, seed, every):
    class Snap(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch % every == 0 or epoch == epochs:
                proba = net.predict_proba(grid)
                cost = float(np.mean(trainer.batch_costs)) if trainer.batch_costs else None
                job.emit({"type": "snapshot", "optimizer": opt, "epoch": epoch, "cost": cost,
                          "accuracy": float(np.mean(net.predict(X) == y)),
                          "grid": proba.argmax(axis=1).tolist(), "confidence": _rounded(proba.max(axis=1), 2)})
                time.sleep(0.005)  # let the page's polls and the other optimizers in
            return job.stopping.is_set()

    net.fit(X, y, epochs=epochs, batch_size=batch, optimizer=make_optimizer(opt, lr=lr), seed=seed, verbose=0,
            callbacks=[Snap()])


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _is_journal(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC
    except OSError:
        return False


def _digit(value, what) -> int:
    try:
        d = int(value)
    except (TypeError, ValueError):
        raise LabError(f"{what} must be a digit 0-9") from None
    if not 0 <= d <= 9:
        raise LabError(f"{what} must be a digit 0-9")
    return d


def _index(value, n) -> int:
    try:
        i = int(value)
    except (TypeError, ValueError):
        raise LabError("index must be an integer") from None
    if not 0 <= i < n:
        raise NotFound(f"no test image {i}")
    return i
