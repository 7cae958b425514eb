"""The ``complaintdesk classify`` contract: JSON Lines in, one JSON line out per line in.

Each input line is an object with at least ``id`` and ``text``. The output line, in the
same order, carries ``id``, the four label codes, ``confidence`` (one number in [0, 1]
per label), ``model_version`` and ``needs_review``. A line that cannot be read gets
``{"id": ..., "error": "..."}`` (``id`` null when unknown) and the run goes on:
bad JSON, invalid UTF-8, a value that is not an object, a missing or non-string
``text``, an empty or blank ``text``, and a blank line (so that output line *n* always
answers input line *n*). A line longer than ``MAX_LINE_BYTES`` is skipped with an
error without being held in memory; long texts are classified on their first
``features.MAX_CHARS`` characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from complaintdesk.classify.base import Classifier, Prediction

BATCH_LINES = 4096
MAX_LINE_BYTES = 64 * 1024 * 1024
CLASSIFY_CHARS = 4000
"""Characters of a text passed to the classifier (the features use fewer)."""


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Lines without their end of line; None for a line over MAX_LINE_BYTES."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # skip the rest of the line
                rest = stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line.rstrip(b"\r\n")


def parse_line(raw: bytes | None) -> tuple[Any, str | None, str | None]:
    """(id, text, error) of one input line; exactly one of text and error is set."""
    if raw is None:
        return None, None, f"line longer than {MAX_LINE_BYTES} bytes"
    if not raw.strip():
        return None, None, "blank line"
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "line is not valid UTF-8"
    try:
        obj = json.loads(decoded)
    except (json.JSONDecodeError, RecursionError):
        return None, None, "line is not valid JSON"
    if not isinstance(obj, dict):
        return None, None, "line is not a JSON object"
    ident = obj.get("id")
    if isinstance(ident, dict | list):
        ident = json.dumps(ident, ensure_ascii=False)
    text = obj.get("text")
    if "text" not in obj:
        return ident, None, "missing text"
    if not isinstance(text, str):
        return ident, None, "text must be a string"
    if not text.strip():
        return ident, None, "empty text"
    return ident, text[:CLASSIFY_CHARS], None


def result_line(ident: Any, pred: Prediction) -> dict[str, Any]:
    return {
        "id": ident,
        **pred.labels(),
        "confidence": {k: round(v, 4) for k, v in pred.confidence.items()},
        "model_version": pred.model_version,
        "needs_review": pred.needs_review,
    }


def classify_stream(source: IO[bytes], sink: IO[bytes], classifier: Classifier) -> tuple[int, int]:
    """Classify every line of ``source`` into ``sink``; returns (lines, errors)."""
    total = errors = 0
    batch: list[tuple[Any, str | None, str | None]] = []

    def flush() -> None:
        nonlocal errors
        texts = [t for _, t, e in batch if e is None and t is not None]
        preds = iter(classifier.predict(texts)) if texts else iter(())
        out: list[str] = []
        for ident, text, err in batch:
            if err is not None or text is None:
                errors += 1
                out.append(json.dumps({"id": ident, "error": err}, ensure_ascii=False))
            else:
                out.append(json.dumps(result_line(ident, next(preds)), ensure_ascii=False))
        sink.write(("\n".join(out) + "\n").encode("utf-8"))
        sink.flush()
        batch.clear()

    for raw in _lines(source):
        batch.append(parse_line(raw))
        total += 1
        if len(batch) >= BATCH_LINES:
            flush()
    if batch:
        flush()
    return total, errors
