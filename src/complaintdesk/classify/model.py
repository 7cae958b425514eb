"""The trained classifier: one multinomial logistic regression per label over hashed
features, with a temperature per label fitted so that confidences are calibrated.

The model file is a compressed ``.npz`` of plain arrays plus a JSON header (no pickle):
it loads without a network and without executing code. Training is deterministic: the
same corpus, corrections and seed give the same file, byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from complaintdesk.classify import features as ft
from complaintdesk.classify.base import Prediction
from complaintdesk.domain.taxonomy import LABELS, Category, Department, Nature, Urgency

CODE_VERSION = "hashlr-4"
"""Bump when features or training change meaning: it is part of every model version."""

LABEL_NAMES = ("nature", "category", "urgency", "department")
PACKAGED_MODEL = Path(__file__).parent / "model" / "complaintdesk-classifier.npz"
DEFAULT_CORPUS_SIZE = 50_000
DEFAULT_SEED = 20261123
BATCH = 4096
C_REGULARISATION = 8.0
REAL_WEIGHT = 30
"""How many times each real labelled message counts in training (a sample weight).
25,000 generated examples with weight 15 (the same share) was tried: out-of-fold
category 81.3% and department 76.2%, against 82.5% and 77.7% (docs/classifier.md)."""
REAL_WEIGHT_BY_LABEL = {"category": 100, "department": 100}
"""Labels whose regression counts each real message more than :data:`REAL_WEIGHT`
(session 5). On the same folds (model alone, whole-text reading), category and
department rose with the real weight: 83.4 / 79.6% at 30, 84.4 / 79.7% at 60, 84.5 /
80.7% at 100 (docs/classifier.md); nature and urgency did not (urgency 83.9% at 30,
83.6% at 60), so they keep 30. The lexicon and the pairs are made with :data:`REAL_WEIGHT`."""
MIN_DF = 2
"""A feature column is fitted only if at least this many distinct texts use it."""
MIN_PAIR = 20
"""A (category, department) pair is decoded only if training has at least this many
examples of it (and at least one in 2,000)."""

MAX_TITLE = 100
"""A first line this short, followed by more text, is a letter's title."""
LAST_CHARS = 200
"""A letter's last line is read up to this many characters from its end."""
LETTER_CHARS = 200
"""A text whose normalised form is longer than this is a letter (as for the rule layer):
the real messages the class offsets are fitted on are letters, and only letters get
them; a short message on the desk keeps the generated corpus's mix of classes."""
NO_VIEWS = {"title": 0.0, "last": 0.0, "category_power": 1.0}
"""Decoding with the whole text only, and category and department weighed alike."""
MONEY_TITLE = re.compile(
    r"费|公共收益|维修基金|维修资金|押金|保证金|退款|退还"
    r"|\bfees?\b|\brefunds?\b|\bdeposits?\b|\bservice charges?\b|\bmaintenance fund"
)
"""Money named in a title, in the words of rule 6 of docs/labelling.md (fees, shared
income, the maintenance fund, deposits, refunds), in Chinese and English."""
MONEY_TITLE_24 = re.compile(
    MONEY_TITLE.pattern + r"|赔偿|补偿|工资|社保|收益|收取|乱收|多收|账目|钱|欠款|价格|涨价"
    r"|\bcompensation\b|\bwages?\b|\bovercharg|\bprices?\b"
)
""":data:`MONEY_TITLE` and the rest of rule 24's money issues (docs/labelling.md):
compensation, wages or social insurance owed, shared income, a charge collected, its
level or its accounts (session 9; a reading's ``money_title`` of 2)."""

Record = dict[str, str]


def money_title(text: str, words: re.Pattern[str] = MONEY_TITLE) -> bool:
    """Whether ``text`` has a title line (a first line of at most :data:`MAX_TITLE`
    characters, followed by more) that names money (``words``: :data:`MONEY_TITLE`, or
    :data:`MONEY_TITLE_24`)."""
    cut = text.find("\n", 0, MAX_TITLE + 1)
    if cut <= 0 or not text[cut + 1 :].strip():
        return False
    return words.search(text[:cut].lower()) is not None


def views(text: str) -> tuple[str, str] | None:
    """A letter's title and its last line (where petitions state their request), or
    None for a text with no title line."""
    cut = text.find("\n", 0, MAX_TITLE + 1)
    if cut <= 0:
        return None
    body = text[cut + 1 :]
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return None
    return text[:cut], lines[-1][-LAST_CHARS:]


@dataclass
class TrainedModel:
    """Weights, temperatures and vocabulary of a trained model."""

    version: str
    classes: dict[str, list[str]]
    rows: npt.NDArray[np.uint32]  # feature columns with a non-zero weight
    weights: npt.NDArray[np.float16]  # (len(rows), total classes)
    bias: npt.NDArray[np.float32]
    temperature: dict[str, float]
    lexicon: npt.NDArray[np.uint64]
    meta: dict[str, Any]
    pairs: list[tuple[str, str]] | None = None
    """The (category, department) pairs training saw often enough to be real; the
    labels are decoded together within them. None: each label on its own."""
    decode: dict[str, float] | None = None
    """How a letter is read (chosen on the real messages' out-of-fold scores, see
    :mod:`complaintdesk.classify.crossval`): its scores are the whole text's plus
    ``title`` times its title's plus ``last`` times its last line's; the pair of
    category and department maximises p(category) ** ``category_power`` * p(department).
    None: :data:`NO_VIEWS`. With ``money_title`` set (1.0), a letter decoded
    ``management`` whose title names money goes to ``finance`` (:meth:`finance_by_title`)."""
    offset: dict[str, list[float]] | None = None
    """Per label, a score added to each class of a letter (a text longer than
    :data:`LETTER_CHARS`) after the temperature, fitted on the real letters'
    out-of-fold scores with :func:`fit_offsets`: the generated corpus has its own mix of
    classes, real petitions another. None: no offsets."""

    def __post_init__(self) -> None:
        self._featuriser = ft.Featuriser(self.lexicon)
        total = sum(len(c) for c in self.classes.values())
        dense = np.zeros((ft.N_FEATURES, total), dtype=np.float32)
        dense[self.rows.astype(np.int64)] = self.weights.astype(np.float32)
        self._dense = dense
        self._slices: dict[str, slice] = {}
        start = 0
        for name in LABEL_NAMES:
            k = len(self.classes[name])
            self._slices[name] = slice(start, start + k)
            start += k
        self.set_offset(self.offset)
        self._pair_mask: npt.NDArray[np.float32] | None = None
        if self.pairs is not None:
            cats, deps = self.classes["category"], self.classes["department"]
            mask = np.zeros((len(cats), len(deps)), dtype=np.float32)
            for c, d in self.pairs:
                if c in cats and d in deps:
                    mask[cats.index(c), deps.index(d)] = 1.0
            self._pair_mask = mask
        self._money_pair: tuple[int, int] | None = None
        cats, deps = self.classes["category"], self.classes["department"]
        if "management" in cats and "finance" in deps:
            pair = (cats.index("management"), deps.index("finance"))
            if self._pair_mask is None or self._pair_mask[pair]:
                self._money_pair = pair

    def finance_by_title(
        self, category: npt.NDArray[np.int64], norm: Sequence[str], raw: Sequence[str]
    ) -> npt.NDArray[np.int64]:
        """The rows decoded ``management`` that are letters (normalised text longer than
        :data:`LETTER_CHARS`) whose title names money: rule 24 of docs/labelling.md sends
        them to ``finance`` (the labels do so in every such real message). Only when the
        reading says ``money_title``: 1, in the words of rule 6 (:data:`MONEY_TITLE`); 2
        and up, rule 24's whole list (:data:`MONEY_TITLE_24`, session 9). The rows are
        few, so this is a loop over them."""
        level = self.reading.get("money_title", 0.0)
        if not level or self._money_pair is None:
            return np.zeros(0, dtype=np.int64)
        words = MONEY_TITLE_24 if level >= 2.0 else MONEY_TITLE
        rows = np.flatnonzero(category == self._money_pair[0]).tolist()
        keep = [i for i in rows if len(norm[i]) > LETTER_CHARS and money_title(raw[i], words)]
        return np.array(keep, dtype=np.int64)

    def set_offset(self, offset: dict[str, list[float]] | None) -> None:
        """Use these class offsets (see :attr:`offset`) from now on."""
        self.offset = offset
        self._offset = {
            name: np.asarray(values, dtype=np.float32)
            for name, values in (offset or {}).items()
            if any(values)
        }

    def category_department(
        self, probs: dict[str, npt.NDArray[np.float32]]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The most probable (category, department) pair of each row among the pairs
        training saw: a neighbour dispute goes to security, a fee to finance, even when
        the department alone leans elsewhere."""
        pc, pd = probs["category"], probs["department"]
        if self._pair_mask is None:
            return pc.argmax(axis=1), pd.argmax(axis=1)
        power = self.reading["category_power"]
        if power != 1.0:
            pc = pc**power
        joint = pc[:, :, None] * pd[:, None, :] * self._pair_mask[None, :, :]
        flat = joint.reshape(len(pc), -1).argmax(axis=1)
        return flat // pd.shape[1], flat % pd.shape[1]

    def scores(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.float64]]:
        """Raw logits per label (before the temperature), rows in the order of ``texts``."""
        x = self._featuriser.transform(texts)
        raw = np.asarray(x @ self._dense, dtype=np.float64) + self.bias
        return {name: raw[:, self._slices[name]] for name in LABEL_NAMES}

    def probabilities(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Calibrated class probabilities per label, rows in the order of ``texts``."""
        return self.probabilities_normalised([ft.normalise(t) for t in texts], texts)

    @property
    def reading(self) -> dict[str, float]:
        return self.decode if self.decode is not None else NO_VIEWS

    def reads_views(self) -> bool:
        """Whether letters are read by their title and last line as well."""
        return bool(self.reading["title"] or self.reading["last"])

    def view_scores(
        self, raw: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The rows of ``raw`` that have a title line, and the raw scores (all labels,
        bias included) of their titles and of their last lines."""
        rows: list[int] = []
        parts: list[str] = []
        for i, text in enumerate(raw):
            v = views(text)
            if v is not None:
                rows.append(i)
                parts.extend(v)
        total = self.bias.shape[0]
        if not rows:
            empty = np.zeros((0, total), dtype=np.float32)
            return np.zeros(0, dtype=np.int64), empty, empty
        x = self._featuriser.transform_normalised([ft.normalise(t) for t in parts])
        s = np.asarray(x @ self._dense) + self.bias
        return np.array(rows, dtype=np.int64), s[0::2], s[1::2]

    def _raw_normalised(self, norm: Sequence[str]) -> npt.NDArray[np.float32]:
        """Raw scores (all labels, bias included) of normalised texts, float32.

        One text (the create request) skips the sparse matrix: its few hundred feature
        rows of the weights are gathered and summed in the order scipy's sparse product
        sums them (by column, one after another, in float32), so its scores are the
        same bits as in a batch (tested), at a fraction of the fixed cost."""
        if len(norm) == 1:
            data, indices = self._featuriser.row(norm[0])
            rows = self._dense[indices]
            rows *= data[:, None]
            return np.add.reduce(rows, axis=0, keepdims=True) + self.bias
        x = self._featuriser.transform_normalised(norm)
        return np.asarray(x @ self._dense) + self.bias

    def probabilities_normalised(
        self, norm: Sequence[str], raw: Sequence[str] | None = None
    ) -> dict[str, npt.NDArray[np.float32]]:
        """:meth:`probabilities` of texts already passed through :func:`features.normalise`.
        With the ``raw`` texts, a letter is also read by its title and last line (see
        :attr:`decode`)."""
        scores = self._raw_normalised(norm)
        if raw is not None and self.reads_views():
            rows, title, last = self.view_scores(raw)
            if len(rows):
                r = self.reading
                scores[rows] += r["title"] * title + r["last"] * last
        out: dict[str, npt.NDArray[np.float32]] = {}
        letters = (
            np.fromiter((len(t) > LETTER_CHARS for t in norm), dtype=bool, count=len(norm))
            if self._offset
            else None
        )
        for name in LABEL_NAMES:
            z = scores[:, self._slices[name]] / self.temperature[name]
            if letters is not None and name in self._offset and letters.any():
                z[letters] += self._offset[name]
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            out[name] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


class ModelClassifier:
    """The :class:`~complaintdesk.classify.base.Classifier` over a :class:`TrainedModel`
    (no rules; see :mod:`complaintdesk.classify.rules` for the emergency layer)."""

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        cls = model.classes
        self._codes = (
            [Nature(c) for c in cls["nature"]],
            [Category(c) for c in cls["category"]],
            [Urgency(c) for c in cls["urgency"]],
            [Department(c) for c in cls["department"]],
        )

    @property
    def version(self) -> str:
        return self.model.version

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        preds: list[Prediction] = []
        for start in range(0, len(texts), BATCH):
            batch = texts[start : start + BATCH]
            preds.extend(self.predict_normalised([ft.normalise(t) for t in batch], raw=batch))
        return preds

    def predict_normalised(
        self,
        norm: Sequence[str],
        model_version: str | None = None,
        calm: Sequence[bool] | None = None,
        raw: Sequence[str] | None = None,
    ) -> list[Prediction]:
        """:meth:`predict` on texts already passed through :func:`features.normalise`,
        recording ``model_version`` (the rule layer's) instead of the model's if given.
        ``raw``, the texts before normalising, lets a letter be read by its title and
        last line as well (:attr:`TrainedModel.decode`).

        Where ``calm`` is true, the model may not choose ``emergency`` or ``critical``:
        the rule layer has judged that text (a letter, or a danger that is over or only
        a risk), and the next most likely class is taken, its probability renormalised.
        """
        natures, categories, urgencies, departments = self._codes
        version = self.model.version if model_version is None else model_version
        preds: list[Prediction] = []
        append = preds.append
        for start in range(0, len(norm), BATCH):
            probs = self.model.probabilities_normalised(
                norm[start : start + BATCH],
                None if raw is None else raw[start : start + BATCH],
            )
            if calm is not None:
                self._calm(probs, calm[start : start + BATCH])
            idx = {n: probs[n].argmax(axis=1) for n in ("nature", "urgency")}
            idx["category"], idx["department"] = self.model.category_department(probs)
            if raw is not None:
                money = self.model.finance_by_title(
                    idx["category"], norm[start : start + BATCH], raw[start : start + BATCH]
                )
                if len(money):
                    assert self.model._money_pair is not None
                    idx["department"][money] = self.model._money_pair[1]
            rows = np.arange(len(idx["nature"]))
            # The probability of each chosen class rounded to 4 places, as Python floats.
            # (A float32 times 10^4 is exact in float64, so numpy's round gives what
            # Python's round(float(p), 4) gives, for a whole column at once.)
            top = {
                n: np.round(probs[n][rows, idx[n]].astype(np.float64), 4).tolist()
                for n in LABEL_NAMES
            }
            make = Prediction.of
            for a, b, c, d, pa, pb, pc, pd in zip(
                idx["nature"].tolist(),
                idx["category"].tolist(),
                idx["urgency"].tolist(),
                idx["department"].tolist(),
                top["nature"],
                top["category"],
                top["urgency"],
                top["department"],
                strict=True,
            ):
                append(
                    make(
                        natures[a],
                        categories[b],
                        urgencies[c],
                        departments[d],
                        {"nature": pa, "category": pb, "urgency": pc, "department": pd},
                        version,
                    )
                )
        return preds

    def _calm(self, probs: dict[str, npt.NDArray[np.float32]], calm: Sequence[bool]) -> None:
        """No emergency and no critical on the model's word alone, for ``calm`` rows."""
        rows = np.flatnonzero(np.asarray(calm, dtype=bool))
        if not len(rows):
            return
        for name, code in (("category", Category.EMERGENCY), ("urgency", Urgency.CRITICAL)):
            classes = self.model.classes[name]
            if code.value not in classes:
                continue
            p = probs[name]
            p[rows, classes.index(code.value)] = 0.0
            p[rows] /= np.maximum(p[rows].sum(axis=1, keepdims=True), 1e-12)

    def distributions(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Full probability rows per label (for the rule layer), batched."""
        parts: dict[str, list[npt.NDArray[np.float32]]] = {n: [] for n in LABEL_NAMES}
        for start in range(0, len(texts), BATCH):
            probs = self.model.probabilities(texts[start : start + BATCH])
            for n in LABEL_NAMES:
                parts[n].append(probs[n])
        return {
            n: (
                np.concatenate(parts[n])
                if parts[n]
                else np.zeros((0, len(self.model.classes[n])), np.float32)
            )
            for n in LABEL_NAMES
        }


# --- training ---------------------------------------------------------------------------


def _validate(rec: dict[str, Any]) -> Record | None:
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"]:
        return None
    out: Record = {"text": rec["text"]}
    for name, enum in LABELS.items():
        value = rec.get(name)
        if value not in {e.value for e in enum}:
            return None
        out[name] = str(value)
    return out


def load_labelled(path: Path) -> tuple[list[Record], int]:
    """Labelled records of a JSON Lines file, and how many lines were skipped."""
    good: list[Record] = []
    bad = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rec = _validate(json.loads(line))
        except json.JSONDecodeError:
            rec = None
        if rec is None:
            bad += 1
        else:
            good.append(rec)
    return good, bad


def fit_temperature(
    scores: npt.NDArray[np.float64], y: npt.NDArray[np.int64], lowest: float = 1.0
) -> float:
    """The temperature (at least ``lowest``, at most 8) minimising negative
    log-likelihood of the true classes ``y`` under raw ``scores``."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(lowest), np.log(8.0), 61)):
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = float(-logp[np.arange(len(y)), y].mean())
        if nll < best_nll - 1e-12:
            best_t, best_nll = float(t), nll
    return round(best_t, 4)


def fit_offsets(
    scores: npt.NDArray[np.float64], y: npt.NDArray[np.int64], temperature: float
) -> list[float]:
    """Per-class offsets ``c`` minimising the negative log-likelihood of the true classes
    ``y`` under ``softmax(scores / temperature + c)``: a shift of the class priors from
    the training mix to the one of ``y``. Classes absent from ``y`` (no real emergency,
    nothing critical) keep 0, and the offsets of the others sum to 0, so those classes
    are not pushed down; each offset stays within +-3. Rounded to 4 places."""
    from scipy.optimize import minimize

    k = scores.shape[1]
    present = np.flatnonzero(np.bincount(y, minlength=k) > 0)
    if len(present) < 2:
        return [0.0] * k
    z = scores / temperature
    rows = np.arange(len(y))

    def nll(free: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        c = np.zeros(k)
        c[present] = free - free.mean()
        q = z + c
        q = q - q.max(axis=1, keepdims=True)
        e = np.exp(q)
        p = e / e.sum(axis=1, keepdims=True)
        loss = float(-np.log(np.maximum(p[rows, y], 1e-300)).mean())
        grad_c = p.mean(axis=0)
        np.subtract.at(grad_c, y, 1.0 / len(y))
        g = grad_c[present]
        return loss, g - g.mean()

    bounds = [(-3.0, 3.0)] * len(present)
    found = minimize(nll, np.zeros(len(present)), jac=True, method="L-BFGS-B", bounds=bounds)
    c = np.zeros(k)
    c[present] = found.x - found.x.mean()
    return [round(float(v), 4) for v in np.clip(c, -3.0, 3.0)]


def train(
    corpus: Sequence[Record],
    corrections: Sequence[Record] = (),
    seed: int = DEFAULT_SEED,
    calibration: Sequence[Record] = (),
    correction_weight: int = 3,
    real: Sequence[Record] = (),
    real_weight: int = REAL_WEIGHT,
    temperature: dict[str, float] | None = None,
    real_weight_by_label: dict[str, int] | None = None,
    c_by_label: dict[str, float] | None = None,
    class_weight_by_label: dict[str, str] | None = None,
    segments: Sequence[Record] = (),
    segment_weight_by_label: dict[str, int] | None = None,
) -> TrainedModel:
    """Fit the model. Corrections by staff count ``correction_weight`` times each, real
    labelled messages ``real_weight`` times each. ``temperature``, when given (fitted on
    real folds, see :mod:`complaintdesk.classify.crossval`), is used as it is instead of
    being fitted on ``calibration``. ``real_weight_by_label`` (default
    :data:`REAL_WEIGHT_BY_LABEL`) overrides ``real_weight`` for the regressions of the
    labels it names. ``c_by_label`` overrides :data:`C_REGULARISATION` and
    ``class_weight_by_label`` sets scikit-learn's ``class_weight`` ("balanced") for the
    labels they name (experiments; none by default, and then the version is as before).
    ``segments`` (session 13, experiment; none by default, and then the model and its
    version are as before) are pieces of real letters labelled issue by issue: they count
    ``segment_weight_by_label[name]`` times in the regression of each label it names and
    not at all in the others, nor in the lexicon, the columns in use (a piece shares its
    n-grams with its letter) or the decoded pairs."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    records = list(corpus) + list(corrections) + list(real)
    # A correction counts correction_weight times, a real message real_weight times: as
    # sample weights (the same loss as repeated rows, without the rows).
    weight = np.array(
        [1] * len(corpus) + [correction_weight] * len(corrections) + [real_weight] * len(real),
        dtype=np.int64,
    )
    by_label = dict(REAL_WEIGHT_BY_LABEL if real_weight_by_label is None else real_weight_by_label)
    if not real:
        by_label = {}
    texts = [r["text"] for r in records]
    words, lexicon = ft.build_lexicon(texts, weights=weight.tolist())
    featuriser = ft.Featuriser(lexicon)
    seg_by_label = dict(segment_weight_by_label or {}) if segments else {}
    with threadpool_limits(1):
        x_full = featuriser.transform(texts)
        # Fit only on the columns that at least MIN_DF distinct texts use: the optimiser
        # then works on tens of thousands of weights per class instead of N_FEATURES, and
        # the n-grams of a single long letter (which say nothing about another) stay zero.
        used = _columns_in_use(x_full, texts)
        x = x_full[:, used]
        if seg_by_label:
            import scipy.sparse as sparse

            x_seg = featuriser.transform([r["text"] for r in segments])[:, used]
            x = sparse.vstack([x, x_seg], format="csr")
        x_cal = (
            featuriser.transform([r["text"] for r in calibration])[:, used] if calibration else None
        )
        classes: dict[str, list[str]] = {}
        coefs: list[npt.NDArray[np.float64]] = []
        biases: list[npt.NDArray[np.float64]] = []
        temps: dict[str, float] = {}
        for name in LABEL_NAMES:
            labels = [r[name] for r in records]
            names = [e.value for e in LABELS[name]]
            present = [c for c in names if c in set(labels)]
            seg_w = seg_by_label.get(name, 0)
            # A piece's label the whole texts never show stays out (weight 0, any class).
            seg_labels = [r[name] if r[name] in present else present[0] for r in segments]
            if seg_by_label:
                labels = labels + seg_labels
            y = np.array([present.index(v) for v in labels], dtype=np.int64)
            clf = LogisticRegression(
                C=(c_by_label or {}).get(name, C_REGULARISATION),
                class_weight=(class_weight_by_label or {}).get(name),
                max_iter=300,
                tol=1e-4,
                random_state=seed,
            )
            sample_weight = weight.astype(np.float64)
            if name in by_label:
                sample_weight[len(records) - len(real) :] = by_label[name]
            if seg_by_label:
                seg_sw = np.array(
                    [seg_w if r[name] in present else 0 for r in segments], dtype=np.float64
                )
                sample_weight = np.concatenate([sample_weight, seg_sw])
            clf.fit(x, y, sample_weight=sample_weight)
            coef = np.asarray(clf.coef_, dtype=np.float64)
            bias = np.asarray(clf.intercept_, dtype=np.float64)
            if len(present) == 2:  # binary LR keeps one row; make it two-class softmax
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                bias = np.array([-bias[0] / 2, bias[0] / 2])
            classes[name] = present
            coefs.append(coef.T)
            biases.append(bias)
            if temperature is not None:
                temps[name] = temperature[name]
            elif x_cal is not None:
                cal = [r for r in calibration if r[name] in present]
                keep = [i for i, r in enumerate(calibration) if r[name] in present]
                yc = np.array([present.index(r[name]) for r in cal], dtype=np.int64)
                scores = np.asarray(x_cal[keep] @ coef.T) + bias
                # Never sharpen (t < 1): the generated calibration set is easier than real text.
                temps[name] = fit_temperature(scores, yc)
            else:
                temps[name] = 1.0
    counts: dict[tuple[str, str], int] = {}
    for r, w in zip(records, weight.tolist(), strict=True):
        key = (r["category"], r["department"])
        counts[key] = counts.get(key, 0) + w
    total = int(weight.sum())
    pairs = sorted(k for k, v in counts.items() if v >= max(MIN_PAIR, total // 2000))
    w_used = np.hstack(coefs).astype(np.float16)
    keep = np.abs(w_used).max(axis=1) > 0
    rows = used[keep].astype(np.uint32)
    w_rows = w_used[keep]
    digest = hashlib.sha256()
    digest.update(CODE_VERSION.encode())
    digest.update(str(seed).encode())
    for r, w in zip(records, weight.tolist(), strict=True):
        for _ in range(w):  # as when each weighted example was a repeated row
            digest.update(json.dumps(r, ensure_ascii=False, sort_keys=True).encode())
    for r in calibration:
        digest.update(json.dumps(r, ensure_ascii=False, sort_keys=True).encode())
    if by_label:
        digest.update(json.dumps(by_label, sort_keys=True).encode())
    if c_by_label or class_weight_by_label:
        extra = {"c": c_by_label or {}, "class_weight": class_weight_by_label or {}}
        digest.update(json.dumps(extra, sort_keys=True).encode())
    if seg_by_label:
        digest.update(json.dumps(seg_by_label, sort_keys=True).encode())
        for r in segments:
            digest.update(json.dumps(r, ensure_ascii=False, sort_keys=True).encode())
    data_digest = digest.hexdigest()
    version = _version(data_digest, temperature)
    meta = {
        "version": version,
        "data_digest": data_digest,
        "code_version": CODE_VERSION,
        "seed": seed,
        "n_training": total,
        "n_corrections": len(corrections),
        "n_calibration": len(calibration),
        "n_real": len(real),
        "real_weight": real_weight if real else 0,
        "real_weight_by_label": by_label,
        "n_features": ft.N_FEATURES,
        "lexicon_words": len(words),
    }
    if seg_by_label:
        meta["n_segments"] = len(segments)
        meta["segment_weight_by_label"] = seg_by_label
    return TrainedModel(
        version=version,
        classes=classes,
        rows=rows,
        weights=w_rows,
        bias=np.concatenate(biases).astype(np.float32),
        temperature=temps,
        lexicon=lexicon,
        meta=meta,
        pairs=pairs,
    )


def _version(data_digest: str, temperature: dict[str, Any] | None) -> str:
    """The model version: the code version, then 12 hex digits of a SHA-256 over the
    code version, the seed, every example (a weighted one as often as its weight) and
    the temperatures given (if any)."""
    if temperature is None:
        return f"{CODE_VERSION}-{data_digest[:12]}"
    digest = hashlib.sha256(data_digest.encode())
    digest.update(json.dumps(temperature, sort_keys=True).encode())
    return f"{CODE_VERSION}-{digest.hexdigest()[:12]}"


def with_temperature(
    model: TrainedModel,
    temperature: dict[str, float],
    decode: dict[str, float] | None = None,
    offset: dict[str, list[float]] | None = None,
) -> TrainedModel:
    """``model`` with the given temperatures (way of reading letters, class offsets),
    and the version that says so: the packaged model is fitted at the same time as the
    cross-validation that calibrates it, and gets its temperatures afterwards."""
    stamp: dict[str, Any] = dict(temperature)
    if decode is not None:
        stamp.update({f"decode_{k}": v for k, v in decode.items()})
    if offset is not None:
        stamp.update({f"offset_{k}": v for k, v in offset.items()})
    version = _version(str(model.meta["data_digest"]), stamp)
    return TrainedModel(
        version=version,
        classes=model.classes,
        rows=model.rows,
        weights=model.weights,
        bias=model.bias,
        temperature={n: temperature[n] for n in model.classes},
        lexicon=model.lexicon,
        meta={**model.meta, "version": version},
        pairs=model.pairs,
        decode=dict(decode) if decode is not None else None,
        offset={k: list(v) for k, v in offset.items()} if offset is not None else None,
    )


def _columns_in_use(x: Any, texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """Columns used by at least :data:`MIN_DF` distinct texts (a repeated example counts once)."""
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    distinct = x[np.fromiter(first.values(), dtype=np.int64, count=len(first))]
    df = np.bincount(distinct.indices, minlength=x.shape[1])
    return np.flatnonzero(df >= MIN_DF).astype(np.int64)


def training_corpus(
    size: int = DEFAULT_CORPUS_SIZE, seed: int = DEFAULT_SEED, letters: int = 0
) -> list[Record]:
    """The generated training corpus: ``size`` generated examples, then ``letters``
    letter-style examples (:mod:`complaintdesk.classify.letters`, seed + 3). The packaged
    recipe uses none: 5,000 letters were evaluated in session 7 and moved no label on the
    real cross-validation beyond its noise (docs/classifier.md)."""
    from complaintdesk.classify.generate import generate

    corpus = generate(size, seed)
    if letters:
        from complaintdesk.classify.letters import letters as write_letters

        corpus += write_letters(letters, seed + 3)
    return corpus


def train_default(
    corrections: Sequence[Record] = (),
    seed: int = DEFAULT_SEED,
    size: int = DEFAULT_CORPUS_SIZE,
    real: Sequence[Record] = (),
    real_weight: int = REAL_WEIGHT,
    folds: int = 5,
    jobs: int = 1,
    letters: int = 0,
) -> tuple[TrainedModel, Any]:
    """The packaged recipe, and its cross-validation on ``real`` (None without it).

    A generated corpus (:func:`training_corpus`, with ``letters`` letter-style examples),
    plus staff corrections, plus the real labelled messages. With real messages,
    ``folds`` models are first trained each without one fold, to score that fold and
    fit the temperatures on real text
    (:func:`complaintdesk.classify.crossval.cross_validate`); without them, the
    temperatures come from a calibration set generated with another seed. ``jobs``
    processes fit the fold models and the packaged one side by side (the same file
    whatever their number).
    """
    from complaintdesk.classify.generate import generate

    corpus = training_corpus(size, seed, letters)
    if not real:
        calibration = generate(max(size // 8, 200), seed + 1)
        return train(corpus, corrections, seed=seed, calibration=calibration), None
    from complaintdesk.classify.crossval import cross_validate

    cv = cross_validate(
        corpus,
        real,
        k=folds,
        seed=seed,
        corrections=corrections,
        real_weight=real_weight,
        jobs=jobs,
        final=True,
    )
    assert cv.final is not None
    model = with_temperature(cv.final, cv.temperature, cv.decode, cv.offset)
    model.meta["cv_folds"] = folds
    model.meta["cv_accuracy"] = {n: round(s.accuracy, 4) for n, s in cv.report.labels.items()}
    return model, cv


# --- storage ----------------------------------------------------------------------------


def save(model: TrainedModel, path: Path) -> None:
    """Write the model as a deterministic compressed npz (no pickled objects)."""
    header = {
        "version": model.version,
        "classes": model.classes,
        "temperature": model.temperature,
        "meta": model.meta,
        "pairs": model.pairs,
        "decode": model.decode,
        "offset": model.offset,
    }
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
        rows=model.rows,
        weights=model.weights,
        bias=model.bias,
        lexicon=model.lexicon,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


def load(path: Path) -> TrainedModel:
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(bytes(z["header"]).decode())
        return TrainedModel(
            version=header["version"],
            classes=header["classes"],
            rows=z["rows"],
            weights=z["weights"],
            bias=z["bias"],
            temperature={k: float(v) for k, v in header["temperature"].items()},
            lexicon=z["lexicon"],
            meta=header["meta"],
            pairs=[(c, d) for c, d in header["pairs"]] if header.get("pairs") else None,
            decode=header.get("decode"),
            offset=header.get("offset"),
        )
