"""Class offsets fitted on real out-of-fold scores: the generated corpus's mix of classes
shifted to the real one, without pushing down classes real text never shows."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from complaintdesk.classify import features as ft
from complaintdesk.classify import model as m
from complaintdesk.classify import rules
from complaintdesk.classify.generate import generate


@functools.cache
def _tiny() -> m.TrainedModel:
    return m.train(generate(400, 5), seed=5, temperature={n: 1.0 for n in m.LABEL_NAMES})


def test_offsets_move_the_prior_towards_the_labels() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(300, 4))
    y = np.where(rng.random(300) < 0.7, 2, rng.integers(0, 2, 300))  # class 2 common, 3 absent
    c = m.fit_offsets(scores, y, 1.0)
    assert c[3] == 0.0  # never seen: left alone, not pushed to minus infinity
    assert abs(sum(c[:3])) < 1e-3  # the seen classes' offsets sum to zero
    assert c[2] > c[0] and c[2] > c[1]  # the common class gains
    assert all(-3.0 <= v <= 3.0 for v in c)
    assert m.fit_offsets(scores, y, 1.0) == c  # deterministic

    def nll(offset: list[float]) -> float:
        z = scores + np.array(offset)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    assert nll(c) < nll([0.0] * 4)


def test_one_class_only_gets_no_offsets() -> None:
    assert m.fit_offsets(np.zeros((5, 3)), np.zeros(5, dtype=np.int64), 1.0) == [0.0] * 3


LETTER = (
    "关于小区楼下商铺开饭店的投诉\n尊敬的领导：我们小区一楼的商铺去年改成了饭店，没有专用烟道，"
    "油烟直接排进小区，晚上十二点以后还在营业，噪音很大。业主多次向物业和社区反映，一直没有结果。"
    "物业说这不归他们管，社区说要找市场监管部门。我们家里有老人和小孩，窗户都不敢开，"
    "晚上也睡不好。我们也打过市民热线，工作人员来看过一次，之后饭店照常营业，情况没有任何改善。"
    "恳请有关部门依法查处，督促商铺整改或者停业，还业主一个安静的居住环境。谢谢！"
)


def test_the_model_adds_its_offsets_to_letters_after_the_temperature(tmp_path: Path) -> None:
    model = _tiny()
    texts = [LETTER, "电梯坏了三天了，没人来修", "楼上装修太吵了"]
    assert len(ft.normalise(LETTER)) > m.LETTER_CHARS > len(ft.normalise(texts[1]))
    plain = model.probabilities(texts)
    offset = {n: [0.0] * len(model.classes[n]) for n in m.LABEL_NAMES}
    offset["category"][model.classes["category"].index("neighborhood")] = 2.0
    shifted = m.with_temperature(model, dict(model.temperature), None, offset)
    assert shifted.version != m.with_temperature(model, dict(model.temperature)).version
    moved = shifted.probabilities(texts)
    k = model.classes["category"].index("neighborhood")
    assert moved["category"][0, k] > plain["category"][0, k]  # the letter
    assert np.array_equal(moved["category"][1:], plain["category"][1:])  # short: no offsets
    assert np.array_equal(moved["nature"], plain["nature"])  # all-zero offsets: no change
    z = np.log(plain["category"][:1].astype(np.float64))
    z[:, k] += 2.0
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.allclose(moved["category"][:1], expected, atol=1e-5)
    path = tmp_path / "m.npz"
    m.save(shifted, path)
    loaded = m.load(path)
    assert loaded.offset == shifted.offset and loaded.version == shifted.version
    assert np.array_equal(loaded.probabilities(texts)["category"], moved["category"])


def test_a_letter_is_what_the_rule_layer_calls_a_letter() -> None:
    assert m.LETTER_CHARS == rules.LONG
