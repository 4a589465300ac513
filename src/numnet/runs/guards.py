"""What a run checks before it allocates or writes anything: that the network fits in memory (estimated
from the settings, see numnet.utils.memory), that no other run is writing the same model file or checkpoint
folder (locks, see numnet.utils.locks), and that a new run does not write into a folder holding another
run's checkpoint (which `--resume` would then mix with it)."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..train.checkpoints import CHECKPOINT_FILE
from ..utils.locks import hold
from ..model.evaluation import INFERENCE_BYTES
from ..utils.memory import check_fits, estimate_training, rows_that_fit

#: MNIST's training images (before the validation split) and test images
_MNIST_TRAIN, _MNIST_TEST = 60000, 10000


class GuardError(ValueError):
    """A run refused before it started (reported in one line)."""


def check_training_memory(cfg: dict, data=None) -> None:
    """Refuse, naming the estimate, a network of `cfg`'s sizes whose training would not fit in memory
    (parameters, gradients, optimizer state, a batch's activations, an evaluation pass); a network taken from
    a model file (init_from) or trained on a GPU is not estimated here."""
    from ..train.optimizers import OPTIMIZERS

    if cfg.get("init_from") or cfg.get("device", "cpu") != "cpu":
        return
    if data is not None:
        n_train, n_eval = len(data[0][0]), max(len(data[1][0]), len(data[2][0]))
    elif cfg.get("data") == "random_regression":
        n_train = n_eval = cfg["train_size"] or 64
    else:
        n_train = cfg["train_size"] or _MNIST_TRAIN - cfg["validation_size"]
        n_eval = max(cfg["validation_size"], _MNIST_TEST)
    rows = max(1, min(cfg["batch_size"], n_train))
    kp = cfg.get("keep_prob")
    dropout = kp is not None and any(k != 1 for k in (kp if isinstance(kp, list) else [kp]))
    pieces = cfg.get("pieces") or (2 if cfg.get("activation") == "maxout" else None)
    try:
        slots = len(OPTIMIZERS.get(cfg["optimizer"]).slots)
    except (KeyError, ValueError, AttributeError):
        slots = 2
    itemsize = 8 if cfg.get("dtype") == "float64" else 4
    estimate = estimate_training(cfg["sizes"], rows, itemsize, slots, dropout, bool(cfg.get("batch_norm")), pieces,
                                 eval_rows=min(n_eval, rows_that_fit(cfg["sizes"], INFERENCE_BYTES, itemsize, pieces)))
    check_fits(estimate, f"training a network of sizes {_sizes(cfg['sizes'])} (batch {rows}, {cfg['optimizer']}, "
                         f"{cfg.get('dtype', 'float32')})", remedy="use smaller layers or a smaller --batch-size")


def _sizes(sizes) -> str:
    text = ",".join(str(s) for s in sizes)
    return text if len(text) <= 80 else text[:77] + "..."


def check_checkpoint_folder(checkpoint_dir, resume, overwrite: bool) -> None:
    """A new run (or a resumed one writing elsewhere) must not write into a folder holding another run's
    checkpoint unless `overwrite`: its run.json and checkpoints would mix with the old run's."""
    if not checkpoint_dir or (resume and Path(checkpoint_dir).resolve() == Path(resume).resolve()):
        return
    if (Path(checkpoint_dir) / CHECKPOINT_FILE).exists() and not overwrite:
        cont = "" if resume else f"continue that run with numnet train --resume {checkpoint_dir}, "
        raise GuardError(f"--checkpoint-dir {checkpoint_dir} already holds another run's {CHECKPOINT_FILE}; {cont}"
                         "choose another folder, or give --overwrite to replace it")


def clear_checkpoint(checkpoint_dir) -> None:
    """Remove the previous run's checkpoint and history from `checkpoint_dir` (--overwrite), so that a run
    stopped before its first checkpoint leaves nothing of the old one to resume by mistake."""
    for name in (CHECKPOINT_FILE, "history.json"):
        with contextlib.suppress(FileNotFoundError):
            (Path(checkpoint_dir) / name).unlink()


@contextlib.contextmanager
def run_guard(out, checkpoint_dir, resume, overwrite: bool):
    """Hold the locks of the model file and the checkpoint folder for the run, after checking the folder."""
    folder = checkpoint_dir or resume
    with contextlib.ExitStack() as stack:
        if folder:
            stack.enter_context(hold(folder, f"--checkpoint-dir {folder}" if checkpoint_dir else f"--resume {folder}"))
            check_checkpoint_folder(checkpoint_dir, resume, overwrite)
        if out is not None:
            stack.enter_context(hold(out, f"--out {out}"))
        yield
