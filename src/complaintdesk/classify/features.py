"""Text -> sparse feature rows, vectorised over a whole batch with numpy.

Three kinds of features share one hashed space of ``N_FEATURES`` columns:

* character n-grams (1 to 4) of the normalised text: they work for Chinese without
  any word list and make English robust to typos;
* Latin words and word bigrams (English, pinyin, codes such as ``5b``);
* Chinese words of a *lexicon* built with jieba at training time: every training text is
  segmented by jieba, and the words it finds (2-4 characters) are stored in the model.
  At prediction time every occurrence of a lexicon word is a feature. This is jieba's
  vocabulary with all-matches lookup instead of a best-path segmentation per text,
  which keeps jieba (pure Python, ~15k short texts/s) off the hot path.

Everything is computed on arrays of code points for the whole batch at once (no Python
loop per n-gram), which is what makes 20,000+ complaints per second on one core
possible. Hashing is our own (multiply-xorshift on uint64), so features do not depend on
``PYTHONHASHSEED`` and a model is reproducible byte for byte.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

N_FEATURES = 1 << 18
MAX_CHARS = 2000
"""Texts are cut to their first MAX_CHARS characters (the main problem comes first)."""

CHAR_ORDERS = (1, 2, 3, 4)
LEXICON_ORDERS = (2, 3, 4)

U64 = npt.NDArray[np.uint64]

_SEP = 0  # code point placed between texts of a batch
_MULT = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
    dtype=np.uint64,
)
_SALT_CHAR = np.uint64(0x1000000000000001)
_SALT_LEX = np.uint64(0x2000000000000003)
_SALT_WORD = np.uint64(0x3000000000000005)
_SALT_BIGRAM = np.uint64(0x4000000000000007)
_WORD_BASE = np.uint64(1099511628211)
LEXICON_BITS = 20
_LEXICON_MASK = np.uint64((1 << LEXICON_BITS) - 1)
_WORD_POWERS = np.cumprod(np.full(64, _WORD_BASE, dtype=np.uint64)) // _WORD_BASE

# Punctuation other than ? and ! (which say something: a question, anger) becomes a space.
_PUNCT = "\"#$%&'()*+,-./:;<=>@[\\]^_`{|}~。,、;:“”‘’《》「」『』【】()…—~·"
_TRANSLATE = {ord(ch): " " for ch in _PUNCT}
_TRANSLATE[_SEP] = " "  # a NUL inside a text would split it in two in a batch
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, punctuation folded, cut to MAX_CHARS."""
    # str.split() splits where the regex \s+ matches (both use Python's isspace), and
    # leaves no space at either end: the same as re.sub(r"\s+", " ", text).strip(), faster.
    return " ".join(fold(text[: MAX_CHARS * 2]).split())[:MAX_CHARS]


def fold(text: str) -> str:
    """NFKC, lower case, punctuation other than ? and ! to spaces: :func:`normalise`
    before its spaces are squeezed and its length cut."""
    return unicodedata.normalize("NFKC", text).lower().translate(_TRANSLATE)


def _mix(h: U64) -> U64:
    """A 64-bit finaliser (splitmix64) so that nearby inputs land far apart."""
    with np.errstate(over="ignore"):
        return _mix_raw(h)


_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix_raw(h: U64) -> U64:
    """:func:`_mix` where overflow warnings are already off."""
    h = h ^ (h >> _S30)
    h *= _M1
    h ^= h >> _S27
    h *= _M2
    h ^= h >> _S31
    return h


def _codepoints(texts: Sequence[str]) -> tuple[U64, npt.NDArray[np.int64]]:
    """Code points of all texts joined by a separator, and the text index of each
    position (-1 on separators)."""
    joined = "\x00".join(texts) + "\x00"
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    is_sep = cps == _SEP
    doc = np.cumsum(is_sep) - is_sep.astype(np.int64)
    doc = np.where(is_sep, -1, doc).astype(np.int64)
    return cps, doc


def ngram_hashes(cps: U64, doc: npt.NDArray[np.int64], n: int) -> tuple[U64, npt.NDArray[np.int64]]:
    """Raw 64-bit hashes of the valid n-grams (inside one text) and their text index."""
    m = len(cps) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h + cps[k : k + m] * _MULT[k]
    h = _mix(h + np.uint64(n))
    valid = (doc[:m] >= 0) & (doc[:m] == doc[n - 1 : n - 1 + m])
    return h[valid], doc[:m][valid]


def _order_sums(cps: U64) -> Iterator[tuple[int, U64]]:
    """For each character order n that fits, the sum over k < n of cps[i + k] * _MULT[k]
    at every start i, as ngram_hashes computes it; an order's sums extend the previous
    order's (when it was n - 1) by one more term. Used by the batch and one-text paths."""
    size = len(cps)
    acc = np.zeros(0, dtype=np.uint64)
    previous = 0
    for n in CHAR_ORDERS:
        m = size - n + 1
        if m <= 0:
            continue
        first = n - 1 if previous == n - 1 and n > 1 else 0
        acc = acc[:m] if first else np.zeros(m, dtype=np.uint64)
        for k in range(first, n):
            acc = acc + cps[k : k + m] * _MULT[k]
        previous = n
        yield n, acc


def _latin_words(cps: U64, doc: npt.NDArray[np.int64]) -> tuple[U64, npt.NDArray[np.int64]]:
    """Hashes of runs of [a-z0-9] and their text index."""
    c = cps
    is_w = ((c >= 97) & (c <= 122)) | ((c >= 48) & (c <= 57))
    idx = np.flatnonzero(is_w)
    if len(idx) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    starts_mask = np.empty(len(idx), dtype=bool)
    starts_mask[0] = True
    starts_mask[1:] = np.diff(idx) != 1
    starts = np.flatnonzero(starts_mask)
    run_id = np.cumsum(starts_mask) - 1
    local = np.arange(len(idx)) - starts[run_id]
    with np.errstate(over="ignore"):
        terms = c[idx] * _WORD_POWERS[np.minimum(local, 63)]
    h = _mix(np.add.reduceat(terms, starts))
    return h, doc[idx[starts]]


class Featuriser:
    """Turns texts into L2-normalised rows of hashed features.

    ``lexicon`` holds the raw hashes of jieba words (see :func:`build_lexicon`).
    """

    def __init__(self, lexicon: U64 | None = None, n_features: int = N_FEATURES) -> None:
        self.lexicon = np.sort(lexicon) if lexicon is not None else np.zeros(0, np.uint64)
        self.n_features = n_features
        # A bitmap of the lexicon's hashes (low LEXICON_BITS bits): an n-gram whose bit is
        # clear is not a lexicon word, so only the few with a set bit (about 1 in 50 that
        # are not words) need the exact binary search. Same matches, a fraction of the work.
        self._bitmap = np.zeros(1 << LEXICON_BITS, dtype=bool)
        self._bitmap[(self.lexicon & _LEXICON_MASK).astype(np.int64)] = True

    def lexicon_matches(self, h: U64) -> npt.NDArray[np.bool_]:
        """Which raw n-gram hashes ``h`` are lexicon words."""
        lex = self.lexicon
        if not len(lex):
            return np.zeros(len(h), dtype=bool)
        cand = np.flatnonzero(self._bitmap[(h & _LEXICON_MASK).astype(np.int64)])
        hc = h[cand]
        pos = np.minimum(np.searchsorted(lex, hc), len(lex) - 1)
        found = np.zeros(len(h), dtype=bool)
        found[cand[lex[pos] == hc]] = True
        return found

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.transform_normalised([normalise(t) for t in texts])

    def transform_normalised(self, norm: Sequence[str]) -> sp.csr_matrix:
        """:meth:`transform` of texts already passed through :func:`normalise` (the rule
        layer normalises each text once, for itself and for the model)."""
        data, indices, indptr = self.rows(norm)
        return sp.csr_matrix((data, indices, indptr), shape=(len(norm), self.n_features))

    def _hashed(self, norm: Sequence[str]) -> tuple[U64, npt.NDArray[np.int64]]:
        """The hashed feature of every n-gram, lexicon word, Latin word and word bigram
        of the texts, and the text of each (overflow warnings off: the caller's).

        The same features as one :func:`ngram_hashes` and one :func:`_mix` per order and
        kind, in fewer and larger numpy operations (a single text has a few hundred
        features, and then the number of operations is the cost): the n-gram sums of
        order n extend those of order n - 1, and every kind is mixed in one call."""
        cps, doc = _codepoints(norm)
        parts: list[U64] = []
        docs: list[npt.NDArray[np.int64]] = []
        lexical: list[bool] = []
        for n, acc in _order_sums(cps):
            m = len(acc)
            valid = (doc[:m] >= 0) & (doc[:m] == doc[n - 1 : n - 1 + m])
            parts.append(acc[valid] + np.uint64(n))
            docs.append(doc[:m][valid])
            lexical.append(n in LEXICON_ORDERS)
        if parts:
            h = _mix_raw(np.concatenate(parts))
            d = np.concatenate(docs)
        else:
            h, d = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        keys: list[U64] = [h ^ _SALT_CHAR]
        rows: list[npt.NDArray[np.int64]] = [d]
        if len(self.lexicon) and any(lexical):
            sel = np.repeat(np.array(lexical), [len(p) for p in parts])
            hl, dl = h[sel], d[sel]
            found = self.lexicon_matches(hl)
            keys.append(hl[found] ^ _SALT_LEX)
            rows.append(dl[found])
        wh, wd = _latin_words(cps, doc)
        keys.append(wh ^ _SALT_WORD)
        rows.append(wd)
        if len(wh) > 1:
            same = wd[1:] == wd[:-1]
            bi = wh[:-1][same] * _MULT[0] + wh[1:][same]
            keys.append(bi ^ _SALT_BIGRAM)
            rows.append(wd[1:][same])
        return _mix_raw(np.concatenate(keys)), np.concatenate(rows)

    def row(self, norm: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """One normalised text's (data, indices): the same as its row of :meth:`rows`,
        bit for bit (tested), in about a third of the numpy operations: no text
        boundaries to track, no row keys."""
        with np.errstate(over="ignore"):
            cps = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
            size = len(cps)
            parts: list[U64] = []
            lexical: list[U64] = []
            for n, acc in _order_sums(cps):
                h = acc + np.uint64(n)
                parts.append(h)
                if n in LEXICON_ORDERS:
                    lexical.append(h)
            keys: list[U64] = []
            if parts:
                h = _mix_raw(np.concatenate(parts))
                keys.append(h ^ _SALT_CHAR)
                if lexical and len(self.lexicon):
                    hl = _mix_raw(np.concatenate(lexical))
                    keys.append(hl[self.lexicon_matches(hl)] ^ _SALT_LEX)
            wh, _ = _latin_words(cps, np.zeros(size, dtype=np.int64))
            keys.append(wh ^ _SALT_WORD)
            if len(wh) > 1:
                keys.append((wh[:-1] * _MULT[0] + wh[1:]) ^ _SALT_BIGRAM)
            col = np.sort(_mix_raw(np.concatenate(keys)) % np.uint64(self.n_features))
        if not len(col):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        first_of = np.empty(len(col), dtype=bool)
        first_of[0] = True
        np.not_equal(col[1:], col[:-1], out=first_of[1:])
        starts = np.flatnonzero(first_of)
        counts = np.diff(np.append(starts, len(col))).astype(np.float32)
        data = np.log1p(counts)
        sq = np.add.reduceat(data * data, np.zeros(1, dtype=np.int64))
        data *= (1.0 / np.sqrt(np.maximum(sq, 1e-12))).astype(np.float32)
        return data, col[starts].astype(np.int64)

    def rows(
        self, norm: Sequence[str]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """The CSR arrays (data, indices, indptr) of :meth:`transform_normalised`,
        without building a scipy matrix (a single text's features are gathered from
        them directly: see :meth:`TrainedModel.probabilities_normalised`)."""
        n_docs = len(norm)
        with np.errstate(over="ignore"):
            col, row = self._hashed(norm)
        # One sort of (row, column) keys gives the canonical CSR layout and the count of
        # each feature in each text, without scipy's COO -> CSR -> sort -> merge steps.
        # The keys fit in 32 bits for a batch of up to 2^32 / n_features texts (16,384),
        # which sorts in about 60% of the time 64-bit keys take; same order either way.
        small = n_docs * self.n_features <= 1 << 32
        kind = np.uint32 if small else np.int64
        col = (col % np.uint64(self.n_features)).astype(kind)
        row = row.astype(kind)
        keys = np.sort(row * kind(self.n_features) + col)
        first = np.empty(len(keys), dtype=bool)
        first[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, len(keys))).astype(np.float32)
        unique = keys[starts]
        indices = (unique % kind(self.n_features)).astype(np.int32)
        indptr = np.searchsorted(
            unique // kind(self.n_features), np.arange(n_docs + 1, dtype=kind)
        ).astype(np.int32)
        data = np.log1p(counts)
        # Each row's sum of squares as scipy's csr sum(axis=1) computes it (a reduceat
        # over the non-empty rows), so one text alone gets the same bits as in a batch.
        lengths = np.diff(indptr)
        filled = np.flatnonzero(lengths)
        sq = np.zeros(n_docs, dtype=np.float32)
        if len(filled):
            sq[filled] = np.add.reduceat(data * data, indptr[filled])
        scale = (1.0 / np.sqrt(np.maximum(sq, 1e-12))).astype(np.float32)
        data *= np.repeat(scale, lengths)
        return data, indices, indptr


def _quiet_jieba() -> None:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()


def build_lexicon(
    texts: Iterable[str], min_count: int = 2, weights: Sequence[int] | None = None
) -> tuple[list[str], U64]:
    """Chinese words (2-4 CJK characters) that jieba finds in ``texts`` at least
    ``min_count`` times, sorted, with their raw n-gram hashes. A text of weight ``w``
    counts as ``w`` copies of it."""
    _quiet_jieba()
    import jieba

    counts: Counter[str] = Counter()
    for i, text in enumerate(texts):
        w = 1 if weights is None else weights[i]
        for word in jieba.cut(normalise(text), HMM=False):
            if 2 <= len(word) <= 4 and _CJK.match(word):
                counts[word] += w
    words = sorted(w for w, c in counts.items() if c >= min_count)
    return words, lexicon_hashes(words)


def lexicon_hashes(words: Sequence[str]) -> U64:
    """The raw hash each word has as a character n-gram (see :func:`ngram_hashes`)."""
    out = np.zeros(len(words), dtype=np.uint64)
    for i, w in enumerate(words):
        cps, doc = _codepoints([w])
        h, _ = ngram_hashes(cps, doc, len(w))
        out[i] = h[0]
    return np.unique(out)
