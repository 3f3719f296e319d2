"""How far annotators agree: per pair and overall, for categorical labels and for the
A/V/D values and continuous traces people gave, and the segments where they differ.

The statistics come from kept libraries: Cohen's kappa from scikit-learn, Fleiss'
kappa from statsmodels, Krippendorff's alpha from ``krippendorff``, the concordance
correlation coefficient (CCC) and Pearson's r from ``audmetric``. What this module adds
is the bookkeeping: which annotation belongs to which item (a segment of a media), and
each annotator's current say on it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from emostudio.core.domain import Annotation, Prediction
from emostudio.core.labels import DIMENSIONS

HUMAN = "human"

Item = tuple[str, float, float]
"""(media id, start, end) of one thing annotators label: a segment, or a span of their own."""


@dataclass(frozen=True)
class AgreementRow:
    """One figure of the agreement table."""

    what: str
    """``label`` or a dimension (arousal, valence, dominance, or ``<dim> trace``)."""
    measure: str
    """Cohen's kappa, Fleiss' kappa, Krippendorff's alpha, CCC or Pearson's r."""
    pair: str
    """``a & b`` for a pair of annotators, ``all`` for everyone."""
    value: float | None
    """None when it cannot be computed (too few shared items, or no variation at all)."""
    items: int


def _units_by_media(units: Iterable[Prediction]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for u in units:
        out.setdefault(u.media_id, []).append((u.media_id, u.start, u.end))
    for items in out.values():
        items.sort()
    return out


def item_of(annotation: Annotation, units: dict[str, list[Item]]) -> Item | None:
    """The segment holding the middle of a span annotation, else the span itself (a media
    without segments, or a span outside them). None for whole-media labels."""
    if annotation.start is None:
        return (annotation.media_id, 0.0, math.inf)
    middle = annotation.start + annotation.duration / 2
    items = units.get(annotation.media_id, [])
    i = bisect.bisect_right([s for _, s, _ in items], middle) - 1
    if 0 <= i < len(items) and middle < items[i][2]:
        return items[i]
    return (annotation.media_id, round(annotation.start, 2), round(annotation.end, 2))


def current_says(
    annotations: Iterable[Annotation], units: Iterable[Prediction] = (), sources: Sequence[str] = (HUMAN,)
) -> dict[str, dict[Item, dict[str, object]]]:
    """annotator -> item -> {"label": ..., "arousal": ..., ...}: each person's newest
    label and newest value per dimension on each item (a later save replaces their own)."""
    by_media = _units_by_media(units)
    out: dict[str, dict[Item, dict[str, object]]] = {}
    for a in sorted(annotations, key=lambda a: a.id or 0):
        if a.source not in sources:
            continue
        item = item_of(a, by_media)
        says = out.setdefault(a.annotator, {}).setdefault(item, {})
        if a.label:
            says["label"] = a.raw_label or a.label  # the library's own name when it has a label set
        for d in DIMENSIONS:
            if getattr(a, d) is not None:
                says[d] = getattr(a, d)
    return out


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _cohen(a: list[str], b: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    return _finite(cohen_kappa_score(a, b))


def _fleiss(rows: list[list[str]]) -> float | None:
    """Fleiss' kappa over items every annotator labelled (it needs as many raters per item)."""
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    if len(rows) < 2 or len({x for r in rows for x in r}) < 2:
        return None
    categories = sorted({x for r in rows for x in r})
    codes = np.array([[categories.index(x) for x in r] for r in rows])
    table, _ = aggregate_raters(codes, n_cat=len(categories))
    return _finite(fleiss_kappa(table))


def _alpha(matrix: np.ndarray, level: str) -> float | None:
    """Krippendorff's alpha of an annotators x items matrix with NaN where one said nothing."""
    import krippendorff

    paired = (~np.isnan(matrix)).sum(axis=0) >= 2
    values = matrix[:, paired]
    if values.shape[1] < 2 or np.unique(values[~np.isnan(values)]).size < 2:
        return None
    return _finite(krippendorff.alpha(reliability_data=values, level_of_measurement=level))


def concordance(x: np.ndarray, y: np.ndarray) -> float | None:
    import audmetric

    if len(x) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return None
    return _finite(audmetric.concordance_cc(x, y))


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    import audmetric

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return _finite(audmetric.pearson_cc(x, y))


def label_agreement(says: dict[str, dict[Item, dict]]) -> list[AgreementRow]:
    """Cohen's kappa per pair of annotators (on the items both labelled), Fleiss' kappa on
    the items all labelled, Krippendorff's alpha (nominal) on every item two or more labelled."""
    people = sorted(p for p, items in says.items() if any("label" in s for s in items.values()))
    if len(people) < 2:
        return []
    labelled = {p: {i: s["label"] for i, s in says[p].items() if "label" in s} for p in people}
    rows = []
    for a, b in combinations(people, 2):
        shared = sorted(set(labelled[a]) & set(labelled[b]), key=str)
        x, y = [labelled[a][i] for i in shared], [labelled[b][i] for i in shared]
        rows.append(AgreementRow("label", "Cohen's kappa", f"{a} & {b}", _cohen(x, y), len(shared)))
    items = sorted(set().union(*labelled.values()), key=str)
    complete = [i for i in items if all(i in labelled[p] for p in people)]
    rows.append(
        AgreementRow(
            "label",
            "Fleiss' kappa",
            "all",
            _fleiss([[labelled[p][i] for p in people] for i in complete]),
            len(complete),
        )
    )
    categories = sorted({x for theirs in labelled.values() for x in theirs.values()})
    matrix = np.array(
        [[categories.index(labelled[p][i]) if i in labelled[p] else np.nan for i in items] for p in people], float
    )
    shared = int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum())
    rows.append(AgreementRow("label", "Krippendorff's alpha", "all", _alpha(matrix, "nominal"), shared))
    return rows


def value_agreement(values: dict[str, dict[object, float]], what: str) -> list[AgreementRow]:
    """CCC and Pearson's r per pair on the items (or samples) both rated, and Krippendorff's
    alpha (interval) overall: for A/V/D values or continuous traces (``values``:
    annotator -> item -> number)."""
    people = sorted(p for p, v in values.items() if v)
    if len(people) < 2:
        return []
    rows = []
    for a, b in combinations(people, 2):
        shared = sorted(set(values[a]) & set(values[b]), key=str)
        x = np.array([values[a][i] for i in shared], float)
        y = np.array([values[b][i] for i in shared], float)
        rows.append(AgreementRow(what, "CCC", f"{a} & {b}", concordance(x, y), len(shared)))
        rows.append(AgreementRow(what, "Pearson's r", f"{a} & {b}", pearson(x, y), len(shared)))
    items = sorted(set().union(*values.values()), key=str)
    matrix = np.array([[values[p].get(i, np.nan) for i in items] for p in people], float)
    shared = int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum())
    rows.append(AgreementRow(what, "Krippendorff's alpha", "all", _alpha(matrix, "interval"), shared))
    return rows


def agreement(annotations: Iterable[Annotation], units: Iterable[Prediction] = ()) -> list[AgreementRow]:
    """The agreement table of a media set: labels, then each rated dimension."""
    says = current_says(annotations, units)
    rows = label_agreement(says)
    for d in DIMENSIONS:
        rows += value_agreement({p: {i: s[d] for i, s in items.items() if d in s} for p, items in says.items()}, d)
    return rows


@dataclass(frozen=True)
class Disagreement:
    """A segment where annotators gave different labels (or A/V/D values far apart)."""

    media_id: str
    start: float
    end: float
    says: dict[str, str]
    """annotator -> what they said, for the table."""


VALUE_SPREAD = 0.5
"""Two ratings of one dimension further apart than this (on -1..1) count as a disagreement."""


def disagreements(annotations: Iterable[Annotation], units: Iterable[Prediction] = ()) -> list[Disagreement]:
    """Items where two or more annotators differ, the most split first."""
    says = current_says(annotations, units)
    by_item: dict[Item, dict[str, dict]] = {}
    for person, items in says.items():
        for item, s in items.items():
            by_item.setdefault(item, {})[person] = s
    out = []
    for (media_id, start, end), people in by_item.items():
        if len(people) < 2:
            continue
        labels = {p: s["label"] for p, s in people.items() if "label" in s}
        split = len(set(labels.values())) - 1 if len(labels) >= 2 else 0
        spread = max(
            (
                np.ptp([s[d] for s in people.values() if d in s])
                for d in DIMENSIONS
                if sum(d in s for s in people.values()) >= 2
            ),
            default=0.0,
        )
        if split == 0 and spread <= VALUE_SPREAD:
            continue
        text = {
            p: ", ".join(
                [
                    *([s["label"]] if "label" in s else []),
                    *(f"{d[0].upper()} {s[d]:+.2f}" for d in DIMENSIONS if d in s),
                ]
            )
            for p, s in sorted(people.items())
        }
        out.append((split, spread, Disagreement(media_id, start, end, text)))
    out.sort(key=lambda x: (-x[0], -x[1], x[2].media_id, x[2].start))
    return [d for *_, d in out]


AGREEMENT_COLUMNS = ("what", "measure", "annotators", "value", "items")


def agreement_table(rows: Iterable[AgreementRow]) -> list[tuple]:
    """Rows for a table: the value rounded, a dash where it could not be computed."""
    return [(r.what, r.measure, r.pair, "–" if r.value is None else round(r.value, 3), r.items) for r in rows]


def library_agreement(repo) -> list[tuple]:
    """The agreement table of the whole library, items being the active version's segments."""
    return agreement_table(agreement(repo.annotations(source=HUMAN), _segments(repo)))


def library_disagreements(repo, rows: bool = True):
    """Where annotators differ in the library: table rows (media name first), or the
    ``Disagreement`` records with ``rows=False``."""
    shared = repo.media_annotated_by(2, HUMAN)  # only where two people labelled can they differ
    found = disagreements(repo.annotations(source=HUMAN, media_ids=shared), _segments(repo, shared))
    if not rows:
        return found
    media = {i: repo.get_media(i) for i in {d.media_id for d in found}}
    names = {i: m.name for i, m in media.items() if m is not None}
    return [
        (
            names.get(d.media_id, d.media_id),
            round(d.start, 2),
            round(d.end, 2) if math.isfinite(d.end) else "end",  # a whole-media label
            "; ".join(f"{p}: {s}" for p, s in d.says.items()),
            d.media_id,
        )
        for d in found
    ]


def _segments(repo, media_ids: list[str] | None = None) -> list[Prediction]:
    """The active version's segments of the media people labelled (``media_ids``, by
    default every media a person labelled): read through the index, whatever the size of
    the library."""
    active = repo.active_model_version()
    if active is None:
        return []
    media_ids = repo.media_annotated_by(1, HUMAN) if media_ids is None else media_ids
    return repo.predictions(model_version_id=active.id, level="segment", media_ids=media_ids)
