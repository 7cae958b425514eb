"""Evidence from the real training folds, added to the fold models' scores (session 12).

    .venv/bin/python bench/classifier_cv.py --report --dump /tmp/oof.npz
    .venv/bin/python bench/letter_evidence.py /tmp/oof.npz [--only NAME]

For each fold, a small model is fitted on the real messages of the *other* folds only
(the same folds as ``model cv``: reposts together), and gives the fold's messages a
probability per category and per department. Its log-probabilities are added, times a
weight ``w``, to those of the fold model (after the temperatures and class offsets that
``model cv`` fitted on the other folds), and category and department are decoded as the
recipe does (the most probable pair among the fold model's pairs, then a ``management``
letter whose title names money goes to ``finance``). Every message is scored by models
that never saw it nor a repost of it.

The evidence families (none of them tried before session 12):

* ``char13``, ``char25``: tf-idf (sublinear) of character 1-3- / 2-5-grams of the
  normalised text, logistic regression;
* ``words``: tf-idf of jieba words and word bigrams, logistic regression;
* ``nbsvm``: NB-SVM style, one against the rest, character 1-3-grams and jieba words
  binarised and scaled by each class's log-count ratio;
* ``title``: tf-idf of character 1-3-grams of the title line alone (rule 17's title);
* ``knn``: the 10 nearest real training messages (cosine over ``char13``; ``--knn K``
  for another number), their labels weighted by similarity;
* ``knnhashed``, ``knnsketch``: the same over the product's own features (the fold
  model's featuriser), or through a fixed random projection of them to 256 dimensions
  (what a model file could hold without the texts); need ``--cache`` and ``--key``;
* ``A+B``: two families' probabilities multiplied (``char13+knn``);
* ``char13seg`` (session 13): ``char13`` fitted on the training folds' real messages
  plus the hand-labelled issues of their multi-issue letters
  (``classify/data/real_issue_labels.csv``), each issue a row of its own;
* ``issues``: a letter read issue by issue: its title and its sentences scored by the
  fold model itself, the title's pair taken when the title is specific (its own top
  category probability at least ``tau``), else the pair the sentences develop most
  (the sentences' probabilities weighted by their length); also the title when specific
  and the whole letter otherwise, and the title's or the sentences' probabilities mixed
  into the whole letter's with a weight ``w``. Needs the fold models (``--cache`` and
  ``--key`` of classifier_cv.py).

Each weight (``w`` in 0, 0.25, 0.5, 1, 2; ``tau`` for ``issues``) is shown at each value
(that row alone would be a choice made on the figures) and **nested**: for each fold the
value is chosen on the other four folds' out-of-fold rows, then the fold is scored with
it, by the most category and department labels right (``--choose right``, as ``model
train`` chooses a reading) or by the lowest negative log-likelihood of the gold category
and department (``--choose nll``, as the temperatures and offsets are fitted). That
choice still sees fold f's labels through the other folds' evidence (fitted on folds
that include f); ``--strict`` adds the **strictly nested** figure, each other fold's
evidence refitted without fold f for fold f's choice (five times the fits): the only
fair estimate. ``letters`` rows apply the evidence to
letters only (texts over 200 normalised characters; short messages as the recipe reads
them), as the product could at no cost on short texts. Needs ``../shared`` (or
``$COMPLAINTDESK_SHARED``) for the texts; prints figures only, no text.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))
from department_heads import Data

Arr = npt.NDArray[Any]
LABELS2 = ("category", "department")
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)


def title_of(text: str) -> str:
    cut = text.find("\n", 0, 101)
    return text[:cut] if cut > 0 else ""


_JIEBA: dict[str, list[str]] = {}


def jieba_words(text: str) -> list[str]:
    if text not in _JIEBA:
        import jieba

        from complaintdesk.classify.features import normalise

        _JIEBA[text] = [w for w in jieba.lcut(normalise(text)) if w.strip()]
    return _JIEBA[text]


def vectoriser(kind: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from complaintdesk.classify.features import normalise

    if kind == "char13":
        return TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2, preprocessor=normalise
        )
    if kind == "char25":
        return TfidfVectorizer(
            analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2, preprocessor=normalise
        )
    if kind == "words":
        return TfidfVectorizer(
            analyzer=jieba_words_bigrams, sublinear_tf=True, min_df=2, lowercase=False
        )
    if kind == "title":
        return TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            sublinear_tf=True,
            min_df=2,
            preprocessor=lambda t: normalise(title_of(t)),
        )
    raise ValueError(kind)


def jieba_words_bigrams(text: str) -> list[str]:
    w = jieba_words(text)
    return w + [a + " " + b for a, b in itertools.pairwise(w)]


FOLD_MODELS: list[Path] = []
"""The fold models' files (``--cache``, ``--key``), for the families that use their
featuriser (``knnhashed``, ``knnsketch``)."""
SKETCH_DIMS = 256
KNN = 10
"""Neighbours read by the ``knn`` families (``--knn``; 10 unless told)."""


def real_model_probs(
    d: Data, texts: Sequence[str], kind: str, c: float = 10.0, without: int | None = None
) -> dict[str, Arr]:
    """Out-of-fold probabilities of category and department from a model of ``kind``
    fitted, for each fold, on the other folds' real messages only; with ``without``,
    each other fold's model is also fitted without fold ``without``'s messages (the
    evidence a strictly nested choice for that fold may see)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    out = {n: np.zeros_like(d.prob[n]) for n in LABELS2}
    for f in range(d.k):
        train = np.flatnonzero((d.folds != f) & ((d.folds != without) | (f == without)))
        test = np.flatnonzero(d.folds == f)
        train_texts = [texts[i] for i in train.tolist()]
        test_texts = [texts[i] for i in test.tolist()]
        if kind in ("knnhashed", "knnsketch"):
            # The product's own features (the fold model's featuriser: hashed character
            # 1-4-grams and lexicon words, log counts, L2-normalised); the sketch is a
            # fixed random projection to SKETCH_DIMS dimensions, normalised again.
            from complaintdesk.classify import model as m

            fitted = m.load(FOLD_MODELS[f])
            xtr = fitted._featuriser.transform(train_texts)
            xte = fitted._featuriser.transform(test_texts)
            if kind == "knnsketch":
                import scipy.sparse as sp

                rng = np.random.default_rng(20261207)
                proj = rng.standard_normal((xtr.shape[1], SKETCH_DIMS)).astype(np.float32)
                xtr = sp.csr_matrix(normalize(xtr @ proj))
                xte = sp.csr_matrix(normalize(xte @ proj))
            kind_run = "knn"
        else:
            kind_run = kind
            base = "char13" if kind in ("knn", "nbsvm", "char13seg") else kind
            vec = vectoriser(base)
            if kind == "char13seg":
                # The training folds' letters' hand-labelled issues (session 13) as extra
                # rows: a piece of a letter with its own category and department.
                seg_texts, seg_y = segment_rows(d, texts, train)
                xtr = vec.fit_transform(train_texts + seg_texts)
            else:
                xtr = vec.fit_transform(train_texts)
            xte = vec.transform(test_texts)
        if kind == "nbsvm":
            wv = vectoriser("words")
            from scipy.sparse import hstack

            xtr = hstack([xtr, wv.fit_transform(train_texts)]).tocsr()
            xte = hstack([xte, wv.transform(test_texts)]).tocsr()
        for n in LABELS2:
            y = d.gold[n][train]
            if kind == "char13seg":
                y = np.concatenate([y, seg_y[n]])
            k = d.prob[n].shape[1]
            p = np.full((len(test), k), 1e-4)
            if kind_run == "knn":
                sim = (xte @ xtr.T).toarray()
                top = np.argsort(-sim, axis=1)[:, :KNN]
                for r in range(len(test)):
                    for j in top[r]:
                        p[r, y[j]] += max(sim[r, j], 0.0)
                prior = np.bincount(y, minlength=k) / len(y)
                p = p + 0.1 * prior[None, :]
            elif kind == "nbsvm":
                xb_tr = (xtr > 0).astype(np.float64)
                xb_te = (xte > 0).astype(np.float64)
                for cls in np.unique(y):
                    pos = np.asarray(xb_tr[y == cls].sum(axis=0)).ravel() + 1.0
                    neg = np.asarray(xb_tr[y != cls].sum(axis=0)).ravel() + 1.0
                    r = np.log((pos / pos.sum()) / (neg / neg.sum()))
                    a = normalize(xb_tr.multiply(r).tocsr())
                    b = normalize(xb_te.multiply(r).tocsr())
                    clf = LogisticRegression(C=c, max_iter=2000)
                    clf.fit(a, (y == cls).astype(int))
                    p[:, cls] = clf.predict_proba(b)[:, 1]
            else:
                clf = LogisticRegression(C=c, max_iter=2000)
                clf.fit(xtr, y)
                p[:, clf.classes_] = clf.predict_proba(xte)
            out[n][test] = p / p.sum(axis=1, keepdims=True)
    return out


def segment_rows(d: Data, texts: Sequence[str], train: Arr) -> tuple[list[str], dict[str, Arr]]:
    """The hand-labelled issues (classify/data/real_issue_labels.csv) of the letters among
    ``train``: their pieces of text and their category and department as class indices."""
    from complaintdesk.classify import issues as iss

    ids = {str(d.ids[i]) for i in train.tolist()}
    recs = [{"id": str(d.ids[i]), "text": texts[i], "nature": "", "urgency": ""} for i in train]
    segs = iss.segments(recs, iss.read_issue_labels(), ids)
    y = {
        n: np.array([list(d.classes[n]).index(s[n]) for s in segs], dtype=np.int64) for n in LABELS2
    }
    return [s["text"] for s in segs], y


def accuracy(d: Data, pc: Arr, pd: Arr, rows: Arr) -> tuple[int, int]:
    cat, dep = d.decode(pc[rows], pd[rows], rows)
    return (
        int((cat == d.gold["category"][rows]).sum()),
        int((dep == d.gold["department"][rows]).sum()),
    )


Combine = Callable[[Any], tuple[Arr, Arr]]
"""setting -> (category, department) probabilities of every row."""


def mixer(d: Data, extra: dict[str, Arr], letters_only: bool) -> Combine:
    def combine(w: float) -> tuple[Arr, Arr]:
        out = []
        for n in LABELS2:
            z = np.log(np.maximum(d.prob[n], 1e-9)) + w * np.log(np.maximum(extra[n], 1e-9))
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p = p / p.sum(axis=1, keepdims=True)
            if letters_only:
                p = np.where(d.letter[:, None], p, d.prob[n])
            out.append(p)
        return out[0], out[1]

    return combine


CHOOSE = "right"
"""How a fold's setting is chosen on the other folds: ``right``, the most category and
department labels right after decoding (as the recipe chooses a reading); ``nll``, the
lowest negative log-likelihood of the gold category and department (as the recipe
fits temperatures and offsets)."""


def nll(d: Data, pc: Arr, pd: Arr, rows: Arr) -> float:
    return float(
        -np.log(np.maximum(pc[rows, d.gold["category"][rows]], 1e-12)).sum()
        - np.log(np.maximum(pd[rows, d.gold["department"][rows]], 1e-12)).sum()
    )


def evaluate(
    d: Data,
    name: str,
    combine: Combine,
    grid: Sequence[Any],
    choosing: Callable[[int], Combine] | None = None,
) -> None:
    """Each setting on every row, then nested: fold f scored at the setting chosen on
    the other folds' rows, as ``combine`` gives them or, with ``choosing``, as
    ``choosing(f)`` does (evidence fitted without fold f: ``--strict``)."""
    everything = np.arange(d.n)
    cache = {g: combine(g) for g in grid}
    for g in grid:
        rc, rd = accuracy(d, *cache[g], everything)
        print(f"  {name} [{g}]: category {rc / d.n:.1%}, department {rd / d.n:.1%} ({rd})")
    rc_n = rd_n = 0
    chosen = []
    for f in range(d.k):
        others = everything[d.folds != f]
        if choosing is not None:
            strict = choosing(f)
            cache_f = {g: strict(g) for g in grid}
        else:
            cache_f = cache
        # Chosen on the other folds by category + department right (as the reading is).
        if CHOOSE == "nll":
            best = min(grid, key=lambda g: nll(d, *cache_f[g], others))
        else:
            best = max(grid, key=lambda g: sum(accuracy(d, *cache_f[g], others)))
        chosen.append(best)
        rc, rd = accuracy(d, *cache[best], everything[d.folds == f])
        rc_n, rd_n = rc_n + rc, rd_n + rd
    how = "strictly nested" if choosing is not None else "nested"
    print(
        f"  {name} {how} by {CHOOSE} (chosen per fold {chosen}): category {rc_n / d.n:.1%}, "
        f"department {rd_n / d.n:.1%} ({rd_n})",
        flush=True,
    )


_SENT = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")


def issues_probs(
    d: Data, texts: Sequence[str], models: Sequence[Any]
) -> tuple[dict[str, Arr], dict[str, Arr], Arr]:
    """Per row: the fold model's probabilities of its title and the length-weighted mean
    of its sentences' probabilities (category, department), after the fold's
    temperatures and offsets; and the title's top category probability."""
    title_p = {n: d.prob[n].copy() for n in LABELS2}
    sent_p = {n: d.prob[n].copy() for n in LABELS2}
    title_top = np.zeros(d.n)
    for f, fitted in enumerate(models):
        held = np.flatnonzero(d.folds == f).tolist()
        with_title = [i for i in held if title_of(texts[i])]
        if with_title:
            probs = fitted.probabilities([title_of(texts[i]) for i in with_title])
            for n in LABELS2:
                title_p[n][with_title] = probs[n]
            title_top[with_title] = probs["category"].max(axis=1)
        parts: list[str] = []
        owner: list[int] = []
        for i in held:
            cut = texts[i].find("\n", 0, 101)
            body = texts[i][cut + 1 :] if cut > 0 else texts[i]
            sents = [s.strip() for s in _SENT.findall(body) if len(s.strip()) >= 8]
            parts += sents
            owner += [i] * len(sents)
        if parts:
            probs = fitted.probabilities(parts)
            length = np.array([len(s) for s in parts], dtype=np.float64)
            own = np.array(owner)
            for n in LABELS2:
                acc = np.zeros((d.n, probs[n].shape[1]))
                tot = np.zeros(d.n)
                np.add.at(acc, own, probs[n] * length[:, None])
                np.add.at(tot, own, length)
                has = tot > 0
                sent_p[n][has] = acc[has] / tot[has][:, None]
    return title_p, sent_p, title_top


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dump")
    parser.add_argument("--only", action="append", default=[], help="families to run")
    parser.add_argument("--cache", type=Path, help="classifier_cv.py's cache (for issues)")
    parser.add_argument("--key", help="classifier_cv.py's cache key (for issues)")
    parser.add_argument("--choose", choices=("right", "nll"), default="right")
    parser.add_argument("--knn", type=int, default=10, help="neighbours of the knn families")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also strictly nested: fold f's weight chosen on evidence fitted without fold f",
    )
    args = parser.parse_args()
    global CHOOSE, KNN
    CHOOSE, KNN = args.choose, args.knn
    from complaintdesk.classify.real import load_real

    d = Data(args.dump)
    by_id = {r["id"]: r["text"] for r in load_real()}
    texts = [by_id[str(i)] for i in d.ids]
    rows = np.arange(d.n)
    rc, rd = accuracy(d, d.prob["category"], d.prob["department"], rows)
    print(f"{d.n} rows, {d.k} folds; base: category {rc / d.n:.1%}, department {rd / d.n:.1%}")
    if args.cache and args.key:
        FOLD_MODELS.extend(args.cache / f"fold-{f}-of-{d.k}-{args.key}.npz" for f in range(d.k))
    families = args.only or ["char13", "char25", "words", "nbsvm", "title", "knn"]

    def evidence(kind: str, without: int | None = None) -> dict[str, Arr]:
        if "+" not in kind:
            return real_model_probs(d, texts, kind, without=without)
        parts = [real_model_probs(d, texts, k, without=without) for k in kind.split("+")]
        extra = {n: np.prod([p[n] for p in parts], axis=0) for n in LABELS2}
        return {n: extra[n] / extra[n].sum(axis=1, keepdims=True) for n in LABELS2}

    for kind in families:
        if kind == "issues":
            continue
        extra = evidence(kind)
        for n in LABELS2:
            alone = float((extra[n].argmax(axis=1) == d.gold[n]).mean())
            print(f"{kind}: {n} alone {alone:.1%}")
        inner = {f: evidence(kind, without=f) for f in range(d.k)} if args.strict else {}
        for letters, label in ((False, kind), (True, kind + " letters")):
            evaluate(d, label, mixer(d, extra, letters), WEIGHTS)
            if args.strict:

                def choosing(f: int, letters: bool = letters, inner: Any = inner) -> Combine:
                    return mixer(d, inner[f], letters)

                evaluate(d, label, mixer(d, extra, letters), WEIGHTS, choosing=choosing)
    if "issues" in families:
        from complaintdesk.classify import model as m

        assert args.cache and args.key
        models = []
        for f in range(d.k):
            fitted = m.load(args.cache / f"fold-{f}-of-{d.k}-{args.key}.npz")
            models.append(fitted)
        _calibrate(d, texts, models)
        title_p, sent_p, title_top = issues_probs(d, texts, models)
        for n in LABELS2:
            by_title = np.mean(title_p[n].argmax(1) == d.gold[n])
            by_sentences = np.mean(sent_p[n].argmax(1) == d.gold[n])
            print(
                f"issues: {n} from the title alone {by_title:.1%},"
                f" from the sentences {by_sentences:.1%}"
            )

        def by_issue(tau: float) -> tuple[Arr, Arr]:
            use_title = d.letter & (title_top >= tau)
            use_sent = d.letter & ~use_title
            out = []
            for n in LABELS2:
                p = d.prob[n].copy()
                p[use_title] = title_p[n][use_title]
                p[use_sent] = sent_p[n][use_sent]
                out.append(p)
            return out[0], out[1]

        evaluate(d, "issues tau", by_issue, (1.01, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0))

        def title_then_whole(tau: float) -> tuple[Arr, Arr]:
            use_title = d.letter & (title_top >= tau)
            out = []
            for n in LABELS2:
                p = d.prob[n].copy()
                p[use_title] = title_p[n][use_title]
                out.append(p)
            return out[0], out[1]

        evaluate(d, "title if specific, else whole", title_then_whole, (1.01, 0.9, 0.8, 0.7, 0.6))
        extra = {n: title_p[n] for n in LABELS2}
        evaluate(d, "fold model's title, mixed", mixer(d, extra, True), WEIGHTS)
        extra = {n: sent_p[n] for n in LABELS2}
        evaluate(d, "fold model's sentences, mixed", mixer(d, extra, True), WEIGHTS)


def _calibrate(d: Data, texts: Sequence[str], models: Sequence[Any]) -> None:
    """Give each fold model the temperatures and offsets ``model cv`` gives it (fitted
    on the other folds), by running the same assessment."""
    from complaintdesk.classify import crossval as cv
    from complaintdesk.classify.real import load_real

    real = load_real()
    order = {r["id"]: i for i, r in enumerate(real)}
    assert [order[str(i)] for i in d.ids] == list(range(d.n))
    cv.assess(real, list(d.folds), list(models))


if __name__ == "__main__":
    main()
