"""The test mistakes of a model (confusion matrix, the most confident mistakes) and their free-text tags,
kept in errors.csv in the lab's folder. A tag that a spreadsheet would run as a formula (it starts with
= + - @, a tab or a carriage return) is stored behind a quote and read back unchanged."""
from __future__ import annotations

import csv
import io
import os
import stat

import numpy as np

from ..data.images import digit_to_image
from ..report.analysis import confusion_matrix
from ..utils.files import write_text_atomic
from .base import LabError, digit, index
from .models import Models

ERRORS_CSV = "errors.csv"
ERRORS_COLUMNS = ["index", "true", "predicted", "confidence", "tags"]
MAX_CSV = 4 * 1024 * 1024  # a bigger errors.csv is not read whole (10,000 tags of 200 characters fit)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")  # "'": so a quote of the user's own survives the round trip


def csv_cell(text: str) -> str:
    """A tag as stored: a leading quote makes spreadsheets read a would-be formula as text."""
    return "'" + text if text.startswith(FORMULA_START) else text


def from_csv_cell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


class Tags:
    def __init__(self, models: Models):
        self.models = models
        self.path = models.workdir / ERRORS_CSV

    def confusion(self, name) -> dict:
        y, pred, _, _ = self.models.predictions(name)
        C = confusion_matrix(y, pred, classes=10)
        return {"model": name, "confusion": C.tolist(), "accuracy": float(np.mean(y == pred)), "n": len(y)}

    def mistakes(self, name, true=None, predicted=None, limit=48) -> dict:
        y, pred, conf, _ = self.models.predictions(name)
        wrong = pred != y
        if true is not None:
            wrong &= y == digit(true, "true")
        if predicted is not None:
            wrong &= pred == digit(predicted, "predicted")
        idx = np.flatnonzero(wrong)
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        tags = self.read()
        rows = [{"index": int(i), "true": int(y[i]), "predicted": int(pred[i]), "confidence": round(float(conf[i]), 4),
                 "tags": tags.get(int(i), "")} for i in idx[:limit]]
        return {"model": name, "total": len(idx), "mistakes": rows}

    def digit_png(self, i) -> bytes:
        X, _ = self.models.test_set()
        buffer = io.BytesIO()
        digit_to_image(X[index(i, len(X))], scale=3).save(buffer, format="PNG")
        return buffer.getvalue()

    def read(self) -> dict[int, str]:
        """index -> tags, as the user typed them."""
        return {int(r["index"]): from_csv_cell(r.get("tags") or "") for r in self._rows()}

    def _rows(self) -> list[dict]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CSV:
            raise LabError(f"{ERRORS_CSV} in the lab's folder is not a regular file under 4 MB; move it away")
        with self.path.open(newline="", encoding="utf-8", errors="replace") as f:
            return [r for r in csv.DictReader(f) if (r.get("index") or "").isdigit()]

    def tag(self, name, i, tags) -> dict:
        """Set the free-text tags of test image `i` (a mistake of model `name`) in errors.csv; empty tags
        remove its row."""
        if not isinstance(tags, str) or len(tags) > 200:
            raise LabError("tags must be text of at most 200 characters")
        tags = " ".join(tags.split())
        y, pred, conf, _ = self.models.predictions(name)
        i = index(i, len(y))
        with self.models.lock:
            rows = {int(r["index"]): r for r in self._rows()}
            if tags:
                rows[i] = {"index": i, "true": int(y[i]), "predicted": int(pred[i]),
                           "confidence": f"{conf[i]:.4f}", "tags": csv_cell(tags)}
            else:
                rows.pop(i, None)
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=ERRORS_COLUMNS, lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
            for k in sorted(rows):
                writer.writerow({c: rows[k].get(c, "") for c in ERRORS_COLUMNS})
            write_text_atomic(self.path, out.getvalue())
        return {"index": i, "tags": tags}
