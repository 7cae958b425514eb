"""Commands of the classifier, wired into the main app as ``complaintdesk classify`` and
``complaintdesk model train|eval``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from complaintdesk.classify.base import default_classifier

model_app = typer.Typer(help="Train and evaluate the complaint classifier.", no_args_is_help=True)


def classify_command(
    file: Optional[Path] = typer.Argument(  # noqa: UP045 - typer reads the annotation
        None, help="JSON Lines with id and text; stdin when omitted."
    ),
) -> None:
    """Label complaints: JSON Lines in, one JSON line out per line in, in order."""
    from complaintdesk.classify.jsonl import classify_stream

    sink = typer.get_binary_stream("stdout")
    classifier = default_classifier()
    if file is None:
        total, errors = classify_stream(typer.get_binary_stream("stdin"), sink, classifier)
    else:
        with file.open("rb") as source:
            total, errors = classify_stream(source, sink, classifier)
    if errors:
        typer.echo(f"{errors} of {total} lines could not be classified", err=True)


def _db_corrections() -> list[dict[str, Any]]:
    """Staff corrections from the configured database, if there is one and the module
    that reads them exists."""
    if not (os.environ.get("DATABASE_URL") or os.environ.get("COMPLAINTDESK_DATABASE_URL")):
        return []
    try:
        from complaintdesk.services.corrections import corrected_examples
    except ImportError:
        return []
    from complaintdesk.db.engine import make_engine, make_sessionmaker
    from complaintdesk.settings import Settings

    engine = make_engine(Settings().database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(corrected_examples(session))
    finally:
        engine.dispose()


@model_app.command("train")
def train_command(
    seed: int = typer.Option(20261123, help="Seed of the generated corpus and of training."),
    out: Path = typer.Option(None, help="Model file to write (default: the packaged model)."),
    corrections: Optional[Path] = typer.Option(  # noqa: UP045
        None, help="JSON Lines of staff corrections: text plus the four labels."
    ),
    no_db: bool = typer.Option(False, "--no-db", help="Do not read corrections from the database."),
    size: int = typer.Option(50_000, help="Generated examples."),
) -> None:
    """Rebuild the model from the generated corpus plus staff corrections."""
    from complaintdesk.classify import model as m

    extra: list[dict[str, str]] = []
    if corrections is not None:
        recs, bad = m.load_labelled(corrections)
        extra += recs
        typer.echo(f"corrections file: {len(recs)} examples, {bad} lines skipped", err=True)
    if not no_db:
        try:
            rows = _db_corrections()
        except Exception as exc:  # the database is optional for training
            typer.echo(f"database corrections not read: {exc}", err=True)
            rows = []
        good = [r for r in (m._validate(row) for row in rows) if r is not None]
        extra += good
        if rows:
            typer.echo(f"database corrections: {len(good)} examples", err=True)
    target = out or m.PACKAGED_MODEL
    model = m.train_default(extra, seed=seed, size=size)
    m.save(model, target)
    typer.echo(f"model {model.version} written to {target} ({target.stat().st_size} bytes)")


@model_app.command("eval")
def eval_command(
    file: Path = typer.Argument(..., help="Labelled JSON Lines: text and the four labels."),
    model_file: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", help="Model file (default: the packaged model with its rules)."
    ),
    no_rules: bool = typer.Option(False, "--no-rules", help="Score the model alone."),
) -> None:
    """Per-label accuracy and macro-F1, confusion matrices, emergency recall/precision."""
    from complaintdesk.classify import model as m
    from complaintdesk.classify.base import Classifier
    from complaintdesk.classify.evaluate import evaluate
    from complaintdesk.classify.rules import RuledClassifier

    gold, bad = m.load_labelled(file)
    clf: Classifier
    if model_file is None and not no_rules:
        clf = default_classifier()
    else:
        inner = m.ModelClassifier(m.load(model_file or m.PACKAGED_MODEL))
        clf = inner if no_rules else RuledClassifier(inner)
    report = evaluate(clf, gold)
    typer.echo(f"model: {clf.version}")
    if bad:
        typer.echo(f"skipped {bad} unreadable lines", err=True)
    typer.echo(report.format())
    sys.stdout.flush()
