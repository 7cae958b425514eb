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


def _real(no_real: bool) -> list[dict[str, str]]:
    """The real labelled messages, or a clear stop when their texts are not there."""
    if no_real:
        return []
    from complaintdesk.classify.real import SharedDataMissing, load_real

    try:
        return load_real()
    except SharedDataMissing as exc:
        typer.echo(
            f"{exc}\nThe real labelled messages cannot be trained on without their texts. "
            "Put ../shared beside the checkout (or set COMPLAINTDESK_SHARED), or pass "
            "--no-real to train on the generated corpus alone.",
            err=True,
        )
        raise typer.Exit(2) from exc


def _print_cv(cv: Any, real: list[dict[str, str]], folds: int) -> None:
    typer.echo(f"cross-validation on {len(real)} real labelled messages, {folds} folds")
    typer.echo("(each message scored by a model that never saw it nor a repost of it)")
    typer.echo(cv.report.format())
    typer.echo("")
    typer.echo(cv.review_summary(real))
    typer.echo("")
    typer.echo("how letters are read (title and last-line weights, category power):")
    for f, chosen in enumerate(cv.chosen or []):
        typer.echo(f"  fold {f} (chosen on the other folds): {chosen}")
    typer.echo(f"  packaged model (chosen on all folds): {cv.decode}")
    typer.echo("class offsets after the temperature (fitted on all folds):")
    for name, values in (cv.offset or {}).items():
        typer.echo(f"  {name}: {values}")


@model_app.command("train")
def train_command(
    seed: int = typer.Option(20261123, help="Seed of the generated corpus and of training."),
    out: Path = typer.Option(None, help="Model file to write (default: the packaged model)."),
    corrections: Optional[Path] = typer.Option(  # noqa: UP045
        None, help="JSON Lines of staff corrections: text plus the four labels."
    ),
    no_db: bool = typer.Option(False, "--no-db", help="Do not read corrections from the database."),
    size: int = typer.Option(50_000, help="Generated examples."),
    no_real: bool = typer.Option(
        False, "--no-real", help="Leave out the real labelled messages (read from ../shared)."
    ),
    folds: int = typer.Option(5, min=2, help="Folds of the cross-validation on real messages."),
    jobs: int = typer.Option(
        1, min=1, help="Processes fitting the fold models and the packaged one side by side."
    ),
    letters: int = typer.Option(
        0, min=0, help="Letter-style generated examples added (an experiment; none by default)."
    ),
) -> None:
    """Rebuild the model from the generated corpus, staff corrections and the real
    labelled messages; print its cross-validation on the real messages."""
    from complaintdesk.classify import model as m

    real = _real(no_real)
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
    model, cv = m.train_default(
        extra, seed=seed, size=size, real=real, folds=folds, jobs=jobs, letters=letters
    )
    if cv is not None:
        _print_cv(cv, real, folds)
    m.save(model, target)
    typer.echo(f"model {model.version} written to {target} ({target.stat().st_size} bytes)")


@model_app.command("cv")
def cv_command(
    seed: int = typer.Option(20261123, help="Seed of the generated corpus and of training."),
    size: int = typer.Option(50_000, help="Generated examples."),
    folds: int = typer.Option(5, min=2, help="Folds."),
    jobs: int = typer.Option(1, min=1, help="Processes fitting the fold models side by side."),
    letters: int = typer.Option(
        0, min=0, help="Letter-style generated examples added (an experiment; none by default)."
    ),
) -> None:
    """Cross-validate the training recipe on the real labelled messages (writes no model)."""
    from complaintdesk.classify.crossval import cross_validate
    from complaintdesk.classify.model import training_corpus

    real = _real(False)
    corpus = training_corpus(size, seed, letters)
    cv = cross_validate(corpus, real, k=folds, seed=seed, jobs=jobs)
    _print_cv(cv, real, folds)


@model_app.command("eval")
def eval_command(
    file: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="Labelled JSON Lines: text and the four labels."
    ),
    model_file: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", help="Model file (default: the packaged model with its rules)."
    ),
    no_rules: bool = typer.Option(False, "--no-rules", help="Score the model alone."),
    generated: int = typer.Option(
        0, help="Instead of a file, score this many generated examples of a held-out seed."
    ),
    heldout: bool = typer.Option(
        False,
        "--heldout",
        help="Instead of a file, score the 100 held-back real property messages against "
        "their blind labels (texts read from ../shared; never trained on).",
    ),
    labels: Optional[Path] = typer.Option(  # noqa: UP045
        None, help="With --heldout: the labels file (default: the packaged blind labels)."
    ),
    predictions: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        help="Also write one JSON line per example: its id (when it has one), gold and "
        "predicted codes, review flag. No text.",
    ),
) -> None:
    """Per-label accuracy, macro-F1 and kappa, confusion matrices, emergency
    recall/precision, and the review split."""
    from complaintdesk.classify import model as m
    from complaintdesk.classify.base import Classifier
    from complaintdesk.classify.evaluate import score
    from complaintdesk.classify.rules import RuledClassifier

    subsets: dict[str, list[int]] = {}
    if heldout:
        from complaintdesk.classify import real

        try:
            gold = real.load_heldout(labels=labels or real.HELDOUT_LABELS)
        except real.SharedDataMissing as exc:
            typer.echo(f"{exc}\nThe held-back messages are scored from their texts.", err=True)
            raise typer.Exit(2) from exc
        bad = 0
        for flag in ("yes", "no"):
            subsets[f"sure={flag}"] = [i for i, g in enumerate(gold) if g.get("sure") == flag]
    elif generated:
        from complaintdesk.classify.generate import generate

        # Training uses the seed and calibration seed + 1: seed + 2 is never trained on.
        gold, bad = generate(generated, m.DEFAULT_SEED + 2), 0
    elif file is not None:
        gold, bad = m.load_labelled(file)
    else:
        raise typer.BadParameter("give a FILE or --generated N")
    clf: Classifier
    if model_file is None and not no_rules:
        clf = default_classifier()
    else:
        inner = m.ModelClassifier(m.load(model_file or m.PACKAGED_MODEL))
        clf = inner if no_rules else RuledClassifier(inner)
    preds = clf.predict([g["text"] for g in gold])
    report = score(gold, preds)
    if predictions is not None:
        import json

        with predictions.open("w", encoding="utf-8") as fh:
            for g, p in zip(gold, preds, strict=True):
                row = {
                    "id": g.get("id"),
                    "gold": {n: g[n] for n in p.labels()},
                    "predicted": p.labels(),
                    "needs_review": p.needs_review,
                }
                fh.write(json.dumps(row) + "\n")
    typer.echo(f"model: {clf.version}")
    if bad:
        typer.echo(f"skipped {bad} unreadable lines", err=True)
    typer.echo(report.format())
    for name, idx in subsets.items():
        if not idx:
            continue
        part = score([gold[i] for i in idx], [preds[i] for i in idx])
        cells = ", ".join(
            f"{n} {s.accuracy:.1%} (kappa {s.kappa:.2f})" for n, s in part.labels.items()
        )
        typer.echo(f"\nrows {name}: {part.n}: {cells}")
    sys.stdout.flush()
