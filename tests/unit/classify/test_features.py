"""The featuriser's fast paths give exactly what the plain computation gives."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from complaintdesk.classify import features as ft

TEXTS = [
    "电梯又坏了，物业一直不来修，电梯电梯",
    "the lift is broken again and nobody came",
    "",
    "楼上装修噪音很大 noise noise every night",
    "物业费为什么涨价？请给个说法",
]
WORDS = ["电梯", "物业", "装修", "噪音", "涨价", "说法", "物业费", "一直不来"]


def test_lexicon_lookup_finds_exactly_the_words() -> None:
    featuriser = ft.Featuriser(ft.lexicon_hashes(WORDS))
    lex = featuriser.lexicon
    rng = np.random.default_rng(7)
    # Words, random hashes, and hashes that share a word's low bits (the bitmap's
    # false positives) but are not words.
    probe = np.concatenate(
        [lex, rng.integers(0, 2**63, 5000, dtype=np.uint64), lex ^ np.uint64(1 << 40)]
    )
    found = featuriser.lexicon_matches(probe)
    assert (found == np.isin(probe, lex)).all()
    assert found[: len(lex)].all() and not found[-len(lex) :].any()
    assert not ft.Featuriser().lexicon_matches(probe).any()  # no lexicon: no match


def test_a_lexicon_word_in_a_text_is_a_feature() -> None:
    with_word = ft.Featuriser(ft.lexicon_hashes(["物业费"])).transform(["物业费太贵"])
    without = ft.Featuriser().transform(["物业费太贵"])
    assert with_word.nnz == without.nnz + 1


def _plain(featuriser: ft.Featuriser, texts: list[str]) -> sp.csr_matrix:
    """The same rows built the plain scipy way: count entries, log1p, unit length."""
    norm = [ft.normalise(t) for t in texts]
    cps, doc = ft._codepoints(norm)
    cols, rows = [], []
    for n in ft.CHAR_ORDERS:
        h, d = ft.ngram_hashes(cps, doc, n)
        cols.append(ft._mix(h ^ ft._SALT_CHAR))
        rows.append(d)
        if n in ft.LEXICON_ORDERS:
            found = np.isin(h, featuriser.lexicon)
            cols.append(ft._mix(h[found] ^ ft._SALT_LEX))
            rows.append(d[found])
    wh, wd = ft._latin_words(cps, doc)
    cols.append(ft._mix(wh ^ ft._SALT_WORD))
    rows.append(wd)
    same = wd[1:] == wd[:-1]
    with np.errstate(over="ignore"):
        bi = wh[:-1][same] * ft._MULT[0] + wh[1:][same]
    cols.append(ft._mix(bi ^ ft._SALT_BIGRAM))
    rows.append(wd[1:][same])
    col = (np.concatenate(cols) % np.uint64(ft.N_FEATURES)).astype(np.int64)
    x = sp.csr_matrix(
        (np.ones(len(col), dtype=np.float32), (np.concatenate(rows), col)),
        shape=(len(texts), ft.N_FEATURES),
    )
    x.sum_duplicates()
    np.log1p(x.data, out=x.data)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1 / np.maximum(norms, 1e-6)) @ x)


def test_rows_are_the_plain_computation() -> None:
    featuriser = ft.Featuriser(ft.lexicon_hashes(WORDS))
    fast = featuriser.transform(TEXTS)
    plain = _plain(featuriser, TEXTS)
    plain.sort_indices()
    assert fast.has_canonical_format
    assert (fast.indptr == plain.indptr).all() and (fast.indices == plain.indices).all()
    assert np.allclose(fast.data, plain.data, rtol=1e-6)
    # "电梯" three times in the first text: its bigram weighs log1p(3) / log1p(1) as much
    # as a bigram seen once.
    assert np.isclose(fast.data[: fast.indptr[1]].max() / fast.data[: fast.indptr[1]].min(), 2.0)
    assert fast.indptr[3] == fast.indptr[2]  # the empty text has no features


def test_the_fast_prediction_is_the_constructors() -> None:
    from complaintdesk.classify.base import Prediction
    from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

    args = (Nature.CONSULTING, Category.MANAGEMENT, Urgency.LOW, Department.FINANCE)
    conf = {"nature": 0.9, "category": 0.55, "urgency": 0.8, "department": 0.7}
    fast = Prediction.of(*args, conf, "v1")
    slow = Prediction(*args, confidence=conf, model_version="v1")
    assert fast == slow and repr(fast) == repr(slow)
    assert fast.needs_review and fast.labels() == slow.labels()
    try:
        fast.nature = Nature.HELP_SEEKING  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a fast Prediction must stay frozen")


def test_confidences_are_probabilities_rounded_as_python_rounds() -> None:
    from complaintdesk.classify import model as m

    clf = m.ModelClassifier(m.load(m.PACKAGED_MODEL))
    texts = ["电梯坏了三天了", "when is the fee due?", "楼上每天晚上很吵"]
    probs = clf.model.probabilities(texts)
    for i, p in enumerate(clf.predict(texts)):
        for name in m.LABEL_NAMES:
            chosen = clf.model.classes[name].index(p.labels()[name])
            if name not in ("category", "department"):
                assert chosen == int(probs[name][i].argmax())
            assert p.confidence[name] == round(float(probs[name][i, chosen]), 4)
