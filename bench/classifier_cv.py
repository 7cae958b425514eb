"""The cross-validation of ``complaintdesk model cv``, one fold model at a time, cached.

    .venv/bin/python bench/classifier_cv.py --fold 0            # fit fold 0's model only
    .venv/bin/python bench/classifier_cv.py --report            # fit what is missing, report
    .venv/bin/python bench/classifier_cv.py --report --dump oof.npz --errors

The figures are those of ``complaintdesk model cv`` (the same folds, fold models and
reading: :func:`complaintdesk.classify.crossval.assess`); what this adds is that each
fold's model is fitted on its own (a short run on a busy machine) and kept in ``--cache``
under a key of the code, labels, seed and corpus size, so a report after a change of
decoding costs no training. ``--dump`` writes the out-of-fold raw scores (whole text and
title), the folds, the gold labels and the predictions as arrays (ids and codes, no text)
for experiments on the decoding; ``--errors`` lists the department errors by id with the
category and the probabilities (no text). Needs ``../shared`` (or
``$COMPLAINTDESK_SHARED``) for the real messages' texts.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from complaintdesk.classify import crossval as cv  # noqa: E402
from complaintdesk.classify import issues as iss  # noqa: E402
from complaintdesk.classify import model as m  # noqa: E402
from complaintdesk.classify.features import normalise  # noqa: E402
from complaintdesk.classify.real import REAL_LABELS, load_real  # noqa: E402

SOURCES = ("features.py", "generate.py", "letters.py")


def cache_key(seed: int, size: int, k: int, real_weight: int) -> str:
    """What a fold model depends on: the featuriser, the generator, the training function
    and its settings, the labels, seed, size and folds (not the decoding, so a change of
    how scores are read reuses the fitted models)."""
    h = hashlib.sha256()
    here = Path(m.__file__).parent
    for name in SOURCES:
        h.update((here / name).read_bytes())
    for fn in (m.train, m._columns_in_use, m.training_corpus, cv.fold_tasks, cv.assign_folds):
        h.update(inspect.getsource(fn).encode())
    settings = [
        m.CODE_VERSION,
        m.C_REGULARISATION,
        m.REAL_WEIGHT_BY_LABEL,
        m.MIN_DF,
        m.MIN_PAIR,
        cv.DUPLICATE,
    ]
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(REAL_LABELS.read_bytes())
    h.update(json.dumps([seed, size, k, real_weight]).encode())
    return h.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fold", type=int, action="append", default=[], help="fit this fold")
    parser.add_argument("--report", action="store_true", help="fit what is missing and report")
    parser.add_argument("--folds", type=int, default=cv.DEFAULT_FOLDS)
    parser.add_argument("--seed", type=int, default=m.DEFAULT_SEED)
    parser.add_argument("--size", type=int, default=m.DEFAULT_CORPUS_SIZE)
    parser.add_argument("--real-weight", type=int, default=m.REAL_WEIGHT)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/complaintdesk-cv"))
    parser.add_argument("--dump", type=Path, help="out-of-fold arrays (.npz) to write")
    parser.add_argument("--errors", action="store_true", help="list department errors by id")
    parser.add_argument("--jobs", type=int, default=1, help="processes fitting side by side")
    parser.add_argument(
        "--label-c", action="append", default=[], help="LABEL=C: that regression's C (experiment)"
    )
    parser.add_argument(
        "--balanced", action="append", default=[], help="LABEL: class_weight balanced (experiment)"
    )
    parser.add_argument(
        "--segments",
        type=int,
        default=0,
        help="W: the hand-labelled issues of the training folds' letters as extra examples, "
        "W times each in the category and department regressions (session 13)",
    )
    parser.add_argument(
        "--final", action="store_true", help="also fit (and cache) the model on every message"
    )
    parser.add_argument(
        "--package", type=Path, help="write the packaged model (as model train does) here"
    )
    args = parser.parse_args()

    real = load_real()
    k = args.folds
    folds = cv.assign_folds(real, k, args.seed)
    variant: dict[str, Any] = {}
    if args.label_c:
        variant["c_by_label"] = {a.split("=")[0]: float(a.split("=")[1]) for a in args.label_c}
    if args.balanced:
        variant["class_weight_by_label"] = {name: "balanced" for name in args.balanced}
    if args.segments:
        w = args.segments
        variant["segment_weight_by_label"] = {"category": w, "department": w}
    key = cache_key(args.seed, args.size, k, args.real_weight)
    if variant:
        h = hashlib.sha256(json.dumps(variant, sort_keys=True).encode())
        if args.segments:
            h.update(iss.ISSUE_LABELS.read_bytes())
            h.update(inspect.getsource(iss).encode())
        key += "-" + h.hexdigest()[:6]
        print(f"variant {variant}")
    args.cache.mkdir(parents=True, exist_ok=True)
    path = {f: args.cache / f"fold-{f}-of-{k}-{key}.npz" for f in range(k)}
    path[k] = args.cache / f"final-{key}.npz"  # trained on every real message
    scored = args.report or args.package  # packaging needs the folds' calibration
    wanted = sorted(set(args.fold) | (set(range(k)) if scored else set()))
    if args.final or args.package:
        wanted.append(k)
    missing = [f for f in wanted if not path[f].exists()]
    if missing:
        corpus = m.training_corpus(args.size, args.seed)
        tasks = cv.fold_tasks(corpus, real, folds, k, args.seed, real_weight=args.real_weight)
        tasks.append({**tasks[0], "real": list(real)})
        tasks = [{**t, **variant} for t in tasks]
        if args.segments:
            # A fold model learns from the issues of its own training letters only.
            issue_rows = iss.read_issue_labels()
            for t in tasks:
                t["segments"] = iss.segments(real, issue_rows, {r["id"] for r in t["real"]})
            print("segments per fit:", [len(t["segments"]) for t in tasks])
        t0 = time.time()
        fits = cv.fit_many([tasks[f] for f in missing], args.jobs)
        for f, fitted in zip(missing, fits, strict=True):
            m.save(fitted, path[f])
            print(f"{'final' if f == k else f'fold {f}'}: fitted, {path[f]}", flush=True)
        print(f"{len(missing)} fits in {time.time() - t0:.0f} s ({args.jobs} processes)")
    for f in wanted:
        print(f"{'final' if f == k else f'fold {f}'}: {path[f]}", flush=True)
    if not scored:
        return
    models = [m.load(path[f]) for f in range(k)]
    result = cv.assess(real, folds, models)
    if args.package:
        # As model.train_default does with cross_validate's results.
        final = m.load(path[k])
        packaged = m.with_temperature(final, result.temperature, result.decode, result.offset)
        packaged.meta["cv_folds"] = k
        packaged.meta["cv_accuracy"] = {
            n: round(s.accuracy, 4) for n, s in result.report.labels.items()
        }
        m.save(packaged, args.package)
        print(f"model {packaged.version} written to {args.package}")
    print(f"cross-validation on {len(real)} real labelled messages, {k} folds (key {key})")
    print(result.report.format())
    print()
    print(result.review_summary(real))
    if args.errors:
        print("\ndepartment errors: id, fold, gold category/department -> predicted, p(dep)")
        for r, p, f in zip(real, result.predictions, folds, strict=True):
            if p.department.value != r["department"]:
                print(
                    f"{r['id']} {f} {r['category']}/{r['department']} -> "
                    f"{p.category.value}/{p.department.value} {p.confidence['department']:.2f}"
                )
    if args.dump:
        texts = [r["text"] for r in real]
        n = len(real)
        full = {name: np.zeros((n, len(result.classes[name]))) for name in m.LABEL_NAMES}
        title = {name: np.zeros_like(full[name]) for name in m.LABEL_NAMES}
        has_title = np.zeros(n, dtype=bool)
        prob = {name: np.zeros_like(full[name]) for name in m.LABEL_NAMES}
        masks = []
        for f, fitted in enumerate(models):
            held = [i for i, g in enumerate(folds) if g == f]
            # The fold model as assess left it: temperatures and offsets of the other folds.
            probs = fitted.probabilities([texts[i] for i in held])
            for name in m.LABEL_NAMES:
                prob[name][held] = probs[name]
            masks.append(fitted._pair_mask)
            logits = fitted.scores([texts[i] for i in held])
            rows, t_scores, _ = fitted.view_scores([texts[i] for i in held])
            at = np.array(held, dtype=np.int64)[rows]
            has_title[at] = True
            for name in m.LABEL_NAMES:
                full[name][held] = logits[name]
                title[name][at] = t_scores[:, fitted._slices[name]]
        arrays: dict[str, np.ndarray] = {
            "ids": np.array([r["id"] for r in real]),
            "folds": np.array(folds),
            "has_title": has_title,
            "letter": np.array([len(normalise(t)) > m.LETTER_CHARS for t in texts]),
            "money_title": np.array([m.money_title(t, m.MONEY_TITLE_24) for t in texts]),
            "pair_masks": np.array(masks),
        }
        for name in m.LABEL_NAMES:
            arrays[f"full_{name}"] = full[name]
            arrays[f"title_{name}"] = title[name]
            arrays[f"prob_{name}"] = prob[name]
            arrays[f"classes_{name}"] = np.array(result.classes[name])
            arrays[f"gold_{name}"] = np.array([r[name] for r in real])
            arrays[f"pred_{name}"] = np.array([p.labels()[name] for p in result.predictions])
        np.savez_compressed(args.dump, **arrays)  # type: ignore[arg-type]
        print(f"out-of-fold arrays written to {args.dump}")


if __name__ == "__main__":
    main()
