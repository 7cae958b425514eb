"""Ways of deciding the department, tried on the fold models' out-of-fold scores.

    .venv/bin/python bench/classifier_cv.py --report --dump /tmp/oof.npz
    .venv/bin/python bench/department_heads.py /tmp/oof.npz

Every head (a small model or a choice made on the scores) is fitted or made, for each
fold, on the other folds' rows only, as the recipe's temperatures and class offsets
are, and scores that fold: the figure printed is out of fold. A head with a setting
(C, a power) is shown at each setting (that row alone would be a choice made on the
figures) and **nested**: for each fold the setting is chosen by the same out-of-fold
procedure on the other four folds, then fitted on them and scored on the fold. Only the
nested figure is a fair estimate. The decoding is the recipe's: the most probable
(category, department) pair among the fold model's pairs, then a ``management`` letter
whose title names money goes to ``finance``. The rule layer is left out (it changes no
real message's department: none is an emergency). Ids and codes only: no text is read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]


def log_softmax(z: Arr) -> Arr:
    z = z - z.max(axis=1, keepdims=True)
    out: Arr = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return out


class Data:
    def __init__(self, path: str) -> None:
        d = np.load(path, allow_pickle=False)
        self.folds = d["folds"]
        self.k = int(self.folds.max()) + 1
        self.n = len(self.folds)
        self.labels = ("nature", "category", "urgency", "department")
        self.classes = {n: [str(c) for c in d[f"classes_{n}"]] for n in self.labels}
        self.gold = {
            n: np.array([self.classes[n].index(str(g)) for g in d[f"gold_{n}"]])
            for n in self.labels
        }
        self.pred = {
            n: np.array([self.classes[n].index(str(g)) for g in d[f"pred_{n}"]])
            for n in self.labels
        }
        self.prob = {n: d[f"prob_{n}"] for n in self.labels}
        self.full = {n: d[f"full_{n}"] for n in self.labels}
        self.title = {n: d[f"title_{n}"] for n in self.labels}
        self.has_title = d["has_title"]
        self.letter = d["letter"]
        self.money = d["money_title"] & d["letter"]
        self.masks = d["pair_masks"]
        self.ids = d["ids"]
        cats, deps = self.classes["category"], self.classes["department"]
        self.management = cats.index("management")
        self.finance = deps.index("finance")
        self.guide: Arr | None = None

    def decode(
        self, pc: Arr, pd: Arr, rows: Arr, power: float = 1.0, dpower: float = 1.0
    ) -> tuple[Arr, Arr]:
        """The recipe's joint decoding of ``rows`` (each with its fold's pair mask)."""
        cat = np.zeros(len(rows), dtype=np.int64)
        dep = np.zeros(len(rows), dtype=np.int64)
        for f in np.unique(self.folds[rows]):
            sel = self.folds[rows] == f
            joint = (pc[sel] ** power)[:, :, None] * (pd[sel] ** dpower)[:, None, :]
            joint = joint * self.masks[f][None, :, :]
            flat = joint.reshape(int(sel.sum()), -1).argmax(axis=1)
            cat[sel], dep[sel] = flat // pd.shape[1], flat % pd.shape[1]
        money = (cat == self.management) & self.money[rows]
        dep[money] = self.finance
        return cat, dep


def features(d: Data, kind: str) -> Arr:
    """Stacking features per row: log-probabilities (temperature 1, no offsets: nothing
    fitted on other folds' labels) of the fold model's scores."""
    parts = []
    if "dep" in kind:
        parts.append(log_softmax(d.full["department"]))
    if "all" in kind:
        parts += [log_softmax(d.full[n]) for n in d.labels]
    if "cat1hot" in kind:
        parts.append(np.eye(len(d.classes["category"]))[d.prob["category"].argmax(axis=1)])
    if "title" in kind:
        w = d.has_title[:, None].astype(float)
        parts += [w * log_softmax(d.title[n]) for n in ("category", "department")]
        parts.append(w)
    if "guide" in kind:
        assert d.guide is not None
        parts.append(d.guide)
    if "letter" in kind:
        parts.append(d.letter[:, None].astype(float))
    return np.hstack(parts)


# Words naming each department's work, from the taxonomy's department table and rules
# 6-16 of docs/labelling.md (written from their text, not from the messages).
DEPARTMENT_WORDS = {
    "engineering": r"电梯|漏水|渗水|渗漏|裂缝|开裂|屋顶|防水|质量|停水|停电|供水|供电|水压|水管|"
    r"管道|下水|排水|化粪池|路灯|照明|设备|设施|维修|空调|充电桩|监控|瓷砖|积水|"
    r"lift|elevator|leak|crack|water supply|power|repair",
    "security": r"噪音|噪声|扰民|违建|违章|搭建|群租|消防通道|生命通道|堵塞|占道|高空抛物|狗|犬|"
    r"盗|偷|治安|门禁|外来车辆|乱停|麻将|商铺|餐馆|油烟|广场舞|noise|illegal|theft|fire lane",
    "cleaning": r"卫生|垃圾|清洁|保洁|脏|臭|蚊|苍蝇|虫|老鼠|鼠患|蟑螂|粪|小广告|牛皮癣|"
    r"rubbish|garbage|clean|pest|rats",
    "landscaping": r"绿化|树|草坪|花木|修剪|毁绿|lawn|tree|garden",
    "customer_service": r"业委会|业主委员会|业主大会|选聘|更换物业|换物业|合同|规定|制度|装修|车位|"
    r"快递|态度|不作为|办证|产权证|房产证|不动产|交房|延期|占用|侵占|公共区域|公摊|"
    r"committee|contract|parking space|renovation|parcel|rude",
    "finance": r"费|收取|退款|退还|押金|保证金|维修基金|维修资金|公共收益|收益|发票|账|钱|"
    r"价格|涨价|欠款|赔偿|补偿|fee|charge|refund|deposit|fund|bill",
}


def guide_counts(texts: Sequence[str], departments: Sequence[str]) -> Arr:
    """Per text: how many of each department's words its title names, and its body
    (the first 400 characters after the title), as log(1 + count)."""
    import re

    words = {d: re.compile(DEPARTMENT_WORDS[d]) for d in departments}
    out = np.zeros((len(texts), 2 * len(departments)))
    for i, text in enumerate(texts):
        cut = text.find("\n", 0, 101)
        title, body = (text[:cut], text[cut + 1 :]) if cut > 0 else ("", text)
        for j, d in enumerate(departments):
            out[i, j] = np.log1p(len(words[d].findall(title.lower())))
            out[i, len(departments) + j] = np.log1p(len(words[d].findall(body[:400].lower())))
    return out


Head = Callable[[Arr, Arr, Any], Arr]
"""(train rows, test rows, setting) -> department probabilities of the test rows."""


def lr_head(d: Data, x: Arr, balanced: bool = False) -> Head:
    from sklearn.linear_model import LogisticRegression

    def head(train: Arr, test: Arr, c: float) -> Arr:
        y = d.gold["department"][train]
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None)
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        clf.fit((x[train] - mu) / sd, y)
        p = np.zeros((len(test), len(d.classes["department"])))
        p[:, clf.classes_] = clf.predict_proba((x[test] - mu) / sd)
        return p

    return head


def accuracy_of(d: Data, head: Head, setting: Any, rows: Arr, folds: Sequence[int]) -> int:
    """Departments right on ``rows`` of ``folds``, each fold's head fitted on the other
    folds among ``rows``."""
    right = 0
    for f in folds:
        test = rows[d.folds[rows] == f]
        train = rows[d.folds[rows] != f]
        pd = head(train, test, setting)
        _, dep = d.decode(d.prob["category"][test], pd, test)
        right += int((dep == d.gold["department"][test]).sum())
    return right


def evaluate(d: Data, name: str, head: Head, grid: Sequence[Any]) -> None:
    everything = np.arange(d.n)
    for g in grid:
        right = accuracy_of(d, head, g, everything, range(d.k))
        print(f"  {name} [{g}]: {right / d.n:.1%} ({right})")
    if len(grid) > 1:
        right = 0
        chosen = []
        for f in range(d.k):
            others = everything[d.folds != f]
            inner = [f2 for f2 in range(d.k) if f2 != f]
            best = max(grid, key=lambda g: accuracy_of(d, head, g, others, inner))
            chosen.append(best)
            right += accuracy_of(d, head, best, everything, [f])
        print(f"  {name} nested (chosen per fold: {chosen}): {right / d.n:.1%} ({right})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dump")
    parser.add_argument(
        "--only", default="", help="only the stacked heads whose features name this"
    )
    args = parser.parse_args()
    d = Data(args.dump)
    try:
        from complaintdesk.classify.real import load_real

        texts = {r["id"]: r["text"] for r in load_real()}
        d.guide = guide_counts([texts[str(i)] for i in d.ids], d.classes["department"])
    except Exception as exc:  # the texts are not there: the guide's heads are skipped
        print(f"no guide features: {exc}")
    rows = np.arange(d.n)
    cat, dep = d.decode(d.prob["category"], d.prob["department"], rows)
    print(f"{d.n} rows, {d.k} folds")
    agree = float((dep == d.pred["department"]).mean())
    print(
        f"base (the recipe's decoding): department {np.mean(dep == d.gold['department']):.1%}, "
        f"category {np.mean(cat == d.gold['category']):.1%} "
        f"(agrees with the CV's predictions on {agree:.1%} of rows)"
    )
    right_cat = cat == d.gold["category"]
    print(
        f"department right where the category is right: "
        f"{np.mean(dep[right_cat] == d.gold['department'][right_cat]):.1%} of {right_cat.sum()}; "
        f"where it is wrong: {np.mean(dep[~right_cat] == d.gold['department'][~right_cat]):.1%} "
        f"of {(~right_cat).sum()}"
    )

    def alone(train: Arr, test: Arr, _: Any) -> Arr:
        out: Arr = np.eye(d.prob["department"].shape[1])[d.prob["department"][test].argmax(axis=1)]
        return out

    print("department decoded alone, no pairs:")
    evaluate(d, "alone", alone, [None])

    def powered(train: Arr, test: Arr, g: tuple[float, float]) -> Arr:
        out: Arr = d.prob["department"][test] ** (g[1] / g[0])  # argmax as pc^k pd^j
        return out

    grid_pow = [(a, b) for a in (0.5, 1.0, 1.5, 2.0, 3.0) for b in (0.5, 1.0, 1.5, 2.0)]
    print("joint decoding p(category)^k p(department)^j:")
    evaluate(d, "power", powered, grid_pow)

    cs = [0.03, 0.1, 0.3, 1.0, 3.0]
    for kind in (
        "dep",
        "all",
        "all+letter",
        "all+title+letter",
        "dep+cat1hot",
        "all+cat1hot+title",
        "dep+guide",
        "all+guide",
        "all+title+guide",
    ):
        if args.only and args.only not in kind:
            continue
        if "guide" in kind and d.guide is None:
            continue
        x = features(d, kind)
        print(f"stacked department head, features {kind} ({x.shape[1]}), C:")
        evaluate(d, kind, lr_head(d, x), cs)
    for kind in ("dep", "all"):
        x = features(d, kind)
        print(f"stacked department head, balanced class weights, features {kind}, C:")
        evaluate(d, kind + " balanced", lr_head(d, x, balanced=True), cs)

    print("pairs weighted by the real training rows' P(department | category)^a:")
    for a in (0.0, 0.5, 1.0):
        right = 0
        for f in range(d.k):
            test, train = rows[d.folds == f], rows[d.folds != f]
            counts = np.ones((len(d.classes["category"]), len(d.classes["department"])))
            np.add.at(counts, (d.gold["category"][train], d.gold["department"][train]), 1.0)
            prior = counts / counts.sum(axis=1, keepdims=True)
            pc, pd = d.prob["category"][test], d.prob["department"][test]
            joint = pc[:, :, None] * pd[:, None, :] * d.masks[f][None] * prior[None] ** a
            flat = joint.reshape(len(test), -1).argmax(axis=1)
            c, dp = flat // pd.shape[1], flat % pd.shape[1]
            dp[(c == d.management) & d.money[test]] = d.finance
            right += int((dp == d.gold["department"][test]).sum())
        print(f"  prior [{a}]: {right / d.n:.1%} ({right})")


if __name__ == "__main__":
    main()
