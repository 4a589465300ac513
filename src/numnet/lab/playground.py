"""The Playground: a small network trained on a 2-D toy set by several optimizers side by side, each in its
own thread, streaming its decision boundary, train and test cost and accuracy; one playground job at a time,
stopped for real (its threads joined) before another starts. A diverging optimizer reports why in its panel."""
from __future__ import annotations

import threading
import time

import numpy as np

from ..data.toy import make_circles, make_flower, make_moons, make_spirals
from ..model.network import Network
from ..train.callbacks import Callback
from ..train.optimizers import OPTIMIZERS, make_optimizer
from .base import Busy, Job, LabError, check_keys, number, plain_message, rounded

TOYS = {"moons": make_moons, "circles": make_circles, "spirals": make_spirals, "flower": make_flower}
ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "elu")
KEYS = {"dataset", "noise", "hidden", "activation", "lr", "epochs", "batch_size", "seed", "optimizers", "l2",
        "keep_prob", "test_ratio"}
SIDE = 48  # the boundary is drawn from a SIDE × SIDE grid of predictions
POINTS = 300
STOP_WAIT = 5.0  # seconds a new start waits for the previous job's threads to end


def settings(body: dict) -> dict:
    """The playground's settings from a request, every value checked (a 400 names the bad one)."""
    check_keys(body, KEYS, "playground")
    dataset = body.get("dataset", "moons")
    if dataset not in TOYS:
        raise LabError(f"dataset must be one of {', '.join(TOYS)}")
    activation = body.get("activation", "tanh")
    if activation not in ACTIVATIONS:
        raise LabError(f"activation must be one of {', '.join(ACTIVATIONS)}")
    hidden = body.get("hidden", "8,8")
    if isinstance(hidden, str):
        hidden = [v for v in hidden.replace(" ", "").split(",") if v]
    if not isinstance(hidden, list) or len(hidden) > 4:
        raise LabError("hidden: up to 4 layer widths, like 8,8")
    optimizers = body.get("optimizers") or ["adam"]
    if not isinstance(optimizers, list) or not all(isinstance(o, str) and o in OPTIMIZERS for o in optimizers):
        raise LabError(f"optimizers must be a list of: {', '.join(OPTIMIZERS.names())}")
    return {"dataset": dataset, "activation": activation, "optimizers": list(dict.fromkeys(optimizers)),
            "hidden": [number(h, "hidden", int, 1, 64) for h in hidden],
            "noise": number(body.get("noise", 0.2), "noise", float, 0, 1),
            "lr": number(body.get("lr", 0.01), "lr", float, 1e-6, 10),
            "epochs": number(body.get("epochs", 300), "epochs", int, 1, 5000),
            "batch_size": number(body.get("batch_size", 32), "batch_size", int, 1, 1000),
            "seed": number(body.get("seed", 1), "seed", int, 0, 2**31 - 1),
            "l2": number(body.get("l2", 0) or 0, "l2", float, 0, 100),
            "keep_prob": number(body.get("keep_prob", 1) or 1, "keep_prob", float, 0.05, 1),
            "test_ratio": number(body.get("test_ratio", 0.3) or 0, "test_ratio", float, 0, 0.8)}


class Playground:
    def __init__(self):
        self.job: Job | None = None
        self._lock = threading.Lock()  # one start or stop at a time: never two jobs alive

    def start(self, body: dict) -> dict:
        s = settings(body)
        with self._lock:
            if self.job is not None and not self.job.stop(STOP_WAIT):
                raise Busy("the previous playground run is still stopping; try again")
            X, y = TOYS[s["dataset"]](n=POINTS, noise=s["noise"], seed=s["seed"])
            X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
            n_test = int(round(s["test_ratio"] * len(X)))
            train, test = (X[n_test:], y[n_test:]), (X[:n_test], y[:n_test])
            classes = int(y.max()) + 1
            nets = {opt: Network.from_sizes([2, *s["hidden"], classes], activation=s["activation"], output="softmax",
                                            cost="log_likelihood", seed=s["seed"],
                                            init="he" if "relu" in s["activation"] else "xavier",
                                            keep_prob=None if s["keep_prob"] == 1 else s["keep_prob"])
                    for opt in s["optimizers"]}
            lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
            gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], SIDE), np.linspace(hi[1], lo[1], SIDE))
            grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)

            def target(job):
                threads = [threading.Thread(target=_train_toy, args=(job, opt, net, train, test, grid, s),
                                            name=f"lab-play-{opt}", daemon=True) for opt, net in nets.items()]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            self.job = Job("play", target).start()
        return {"points": rounded(train[0], 3), "labels": train[1].tolist(), "test_points": rounded(test[0], 3),
                "test_labels": test[1].tolist(), "classes": classes, "side": SIDE,
                "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])], "optimizers": list(nets),
                "epochs": s["epochs"], "settings": s}

    def stop(self) -> dict:
        """Stop the running job and wait (a few seconds at most) until its threads have ended."""
        with self._lock:
            job = self.job
            if job is None:
                return {"stopping": False, "stopped": True}
            return {"stopping": True, "stopped": job.stop(STOP_WAIT)}

    def events(self, since) -> dict:
        job = self.job
        if job is None:
            return {"status": "idle", "events": []}
        events, _ = job.wait_events(since, 0)
        return {"status": job.status, "events": events}


def _metrics(net, X, y):
    if not len(X):
        return None, None
    with np.errstate(all="ignore"):
        proba = net.predict_proba(X)
        cost = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1))))
    return (cost if np.isfinite(cost) else None), float(np.mean(proba.argmax(axis=1) == y))


def _train_toy(job, opt, net, train, test, grid, s):
    """One optimizer's run; its snapshots (about 100 in all) and, when it fails (diverges), its message."""
    every, epochs = max(1, s["epochs"] // 100), s["epochs"]

    class Snap(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch % every == 0 or epoch == epochs:
                proba = net.predict_proba(grid)
                cost = float(np.mean(trainer.batch_costs)) if trainer.batch_costs else None
                test_cost, test_acc = _metrics(net, *test)
                job.emit({"type": "snapshot", "optimizer": opt, "epoch": epoch, "cost": cost,
                          "accuracy": float(np.mean(net.predict(train[0]) == train[1])),
                          "test_cost": test_cost, "test_accuracy": test_acc,
                          "grid": proba.argmax(axis=1).tolist(), "confidence": rounded(proba.max(axis=1), 2)})
                time.sleep(0.005)  # let the page's polls and the other optimizers in
            return job.stopping.is_set()

    try:
        net.fit(*train, epochs=epochs, batch_size=s["batch_size"], optimizer=make_optimizer(opt, lr=s["lr"]),
                l2=s["l2"], seed=s["seed"], verbose=0, callbacks=[Snap()])
    except Exception as e:  # noqa: BLE001 - shown in this optimizer's panel; the others go on
        job.emit({"type": "error", "optimizer": opt, "message": plain_message(e)})
