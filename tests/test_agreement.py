"""Several annotators: agreement figures checked against the kept libraries on generated
label sets stored as real annotations, continuous traces, retraction, disagreements."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from emostudio.core.domain import Annotation, Prediction
from emostudio.core.labels import BASIC
from emostudio.services.agreement import agreement, disagreements
from emostudio.services.annotate import CorrectionError, retract_annotation, save_correction
from emostudio.services.export import export_table, write_csv
from emostudio.services.ingest import import_paths
from emostudio.services.traces import save_trace, trace_agreement, trace_spans, trace_versus_model
from emostudio.testing import speech, temp_repository, write_audio

PEOPLE = ("ana", "ben", "cleo")
ITEMS = 40


@pytest.fixture
def library(tmp_path):
    repo = temp_repository(tmp_path)
    media = import_paths(repo, [write_audio(tmp_path / "talk.wav", speech(ITEMS * 0.5))]).added[0]
    return repo, media


def _label_sets(seed: int = 3) -> dict[str, list[str | None]]:
    """Three annotators on 40 items: ana is the reference, ben agrees 80% of the time,
    cleo 60% and skips every fifth item."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(BASIC, ITEMS)
    sets = {"ana": list(truth)}
    for person, keep in (("ben", 0.8), ("cleo", 0.6)):
        sets[person] = [t if rng.random() < keep else rng.choice(BASIC) for t in truth]
    sets["cleo"] = [None if i % 5 == 4 else x for i, x in enumerate(sets["cleo"])]
    return sets


def _save_all(repo, media, sets) -> None:
    for person, labels in sets.items():
        for i, label in enumerate(labels):
            if label is not None:
                save_correction(repo, media, person, i * 0.5, i * 0.5 + 0.5, label)


def _figure(rows, measure, pair="all", what="label"):
    (row,) = [r for r in rows if r.measure == measure and r.pair == pair and r.what == what]
    return row


def test_label_agreement_matches_sklearn_statsmodels_and_krippendorff(library):
    import krippendorff
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    repo, media = library
    sets = _label_sets()
    _save_all(repo, media, sets)
    rows = agreement(repo.annotations(media.id))

    for a, b in (("ana", "ben"), ("ana", "cleo"), ("ben", "cleo")):
        shared = [i for i in range(ITEMS) if sets[a][i] is not None and sets[b][i] is not None]
        expected = cohen_kappa_score([sets[a][i] for i in shared], [sets[b][i] for i in shared])
        row = _figure(rows, "Cohen's kappa", f"{a} & {b}")
        assert row.value == pytest.approx(expected) and row.items == len(shared)
    assert _figure(rows, "Cohen's kappa", "ana & ben").value > _figure(rows, "Cohen's kappa", "ana & cleo").value

    complete = [i for i in range(ITEMS) if all(sets[p][i] is not None for p in PEOPLE)]
    codes = np.array([[BASIC.index(sets[p][i]) for p in PEOPLE] for i in complete])
    table, _ = aggregate_raters(codes, n_cat=len(BASIC))
    assert _figure(rows, "Fleiss' kappa").value == pytest.approx(fleiss_kappa(table))
    assert _figure(rows, "Fleiss' kappa").items == len(complete) == 32

    matrix = np.array([[np.nan if x is None else BASIC.index(x) for x in sets[p]] for p in PEOPLE])
    alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert _figure(rows, "Krippendorff's alpha").value == pytest.approx(alpha)


def test_dimensional_agreement_matches_audmetric_and_krippendorff(library):
    import audmetric
    import krippendorff

    repo, media = library
    rng = np.random.default_rng(0)
    truth = rng.uniform(-0.8, 0.8, ITEMS)
    values = {"ana": truth, "ben": np.clip(truth + rng.normal(0, 0.2, ITEMS), -1, 1)}
    for person, v in values.items():
        for i, x in enumerate(v):
            save_correction(repo, media, person, i * 0.5, i * 0.5 + 0.5, avd={"arousal": round(float(x), 4)})
    rows = agreement(repo.annotations(media.id))
    a, b = (np.round(values[p], 4) for p in ("ana", "ben"))
    assert _figure(rows, "CCC", "ana & ben", "arousal").value == pytest.approx(audmetric.concordance_cc(a, b))
    assert _figure(rows, "Pearson's r", "ana & ben", "arousal").value == pytest.approx(audmetric.pearson_cc(a, b))
    assert _figure(rows, "Krippendorff's alpha", what="arousal").value == pytest.approx(
        krippendorff.alpha(reliability_data=np.stack([a, b]), level_of_measurement="interval")
    )
    assert not [r for r in rows if r.what == "label"]  # nobody gave a label: no label figures


def test_a_range_of_ones_own_counts_for_the_segment_it_falls_in_and_the_newest_save_wins(library):
    repo, media = library
    units = [
        Prediction(1, media.id, "v", "x", "segment", 0.0, 2.0),
        Prediction(2, media.id, "v", "x", "segment", 2.0, 2.0),
    ]
    save_correction(repo, media, "ana", 0.0, 2.0, "anger")
    save_correction(repo, media, "ben", 0.3, 1.1, "sadness")  # dragged to a part of the first segment
    save_correction(repo, media, "ben", 0.2, 1.9, "anger")  # ... then changed their mind
    save_correction(repo, media, "ana", 2.0, 4.0, "fear")
    save_correction(repo, media, "ben", 2.5, 3.0, "happiness")
    rows = agreement(repo.annotations(media.id), units)
    assert _figure(rows, "Cohen's kappa", "ana & ben").items == 2
    (split,) = disagreements(repo.annotations(media.id), units)
    assert (split.start, split.end) == (2.0, 4.0) and split.says == {"ana": "fear", "ben": "happiness"}


def test_retracting_hides_ones_own_label_everywhere_but_the_exported_history(library, tmp_path):
    repo, media = library
    mine = save_correction(repo, media, "ana", 0.0, 1.0, "anger", confidence=0.4)
    theirs = save_correction(repo, media, "ben", 0.0, 1.0, "anger")
    with pytest.raises(CorrectionError, match="only they can retract"):
        retract_annotation(repo, theirs.id, "ana")
    retraction = retract_annotation(repo, mine.id, "ana")
    assert retraction.retracts_annotation_id == mine.id
    assert [a.id for a in repo.annotations(media.id)] == [theirs.id]
    assert repo.human_annotation_counts() == {media.id: 1}  # the Library's "annotated" counts what is shown
    with pytest.raises(CorrectionError, match="already retracted"):
        retract_annotation(repo, mine.id, "ana")
    columns, rows = export_table(repo, "annotations")
    assert [r["annotation_id"] for r in rows] == [mine.id, theirs.id, retraction.id]
    assert rows[0]["confidence"] == 0.4 and rows[2]["retracts_annotation_id"] == mine.id
    assert rows[0]["media"] == "talk.wav" and rows[0]["media_path"].endswith("talk.wav")
    with pytest.raises(CorrectionError, match="confidence"):
        save_correction(repo, media, "ana", 0.0, 1.0, "anger", confidence=1.5)


def _chunks(media_id: str, values: np.ndarray, hop: float = 0.25) -> list[Prediction]:
    return [Prediction(None, media_id, "v", "x", "chunk", i * hop, hop, arousal=float(v)) for i, v in enumerate(values)]


def test_traces_are_stored_per_pass_compared_with_the_model_and_each_other_and_exported(library, tmp_path):
    import audmetric

    repo, media = library
    t = np.arange(100) / 10 + 0.05  # 10 s at 10 Hz
    curve = np.sin(t / 2)
    chunks = _chunks(media.id, np.sin((np.arange(40) * 0.25 + 0.125) / 2))
    first = save_trace(repo, media, "ana", "arousal", 0.0, [round(x, 4) for x in curve * 0.9])
    again = save_trace(repo, media, "ana", "arousal", 0.0, [round(x, 4) for x in curve * 0.5])
    ben = save_trace(repo, media, "ben", "arousal", 0.0, [None, None, *np.round(-curve[2:] * 0.3, 4)])
    assert (first.pass_number, again.pass_number, ben.pass_number) == (1, 2, 1)
    assert len(repo.traces(media.id)) == 3  # nothing replaced

    versus = trace_versus_model(repo.traces(media.id), chunks)
    ana = next(r for r in versus if r.pair == "ana (pass 2) & model" and r.measure == "CCC")  # the newest pass
    model = np.interp(t, np.arange(40) * 0.25 + 0.125, np.sin((np.arange(40) * 0.25 + 0.125) / 2))
    keep = (t >= 0.125) & (t <= 9.875)  # inside the first and last chunk middles
    assert ana.value == pytest.approx(audmetric.concordance_cc(np.round(curve * 0.5, 4)[keep], model[keep]))
    assert next(r for r in versus if r.pair.startswith("ben") and r.measure == "Pearson's r").value < -0.99

    (ccc, r, alpha) = trace_agreement(repo.traces(media.id))
    assert ccc.pair == "ana & ben" and ccc.items == 98 and r.value < -0.99
    assert ccc.value == pytest.approx(
        audmetric.concordance_cc(np.round(curve * 0.5, 4)[2:], np.round(-curve[2:] * 0.3, 4))
    )

    columns, rows = export_table(repo, "traces")
    write_csv(tmp_path / "traces.csv", rows, columns)
    back = list(csv.DictReader(open(tmp_path / "traces.csv", encoding="utf-8")))
    assert len(back) == 100 + 100 + 98 and {r["pass"] for r in back if r["annotator"] == "ana"} == {"1", "2"}
    assert float(back[0]["time"]) == pytest.approx(0.05) and back[0]["media"] == "talk.wav"

    spans = trace_spans(repo.traces(media.id), window=1.0)
    assert len(spans) == 10 and spans[0][:4] == (media.id, 0.0, 1.0, "arousal")
    mean_0 = np.mean([np.round(curve * 0.5, 4)[:10].mean(), np.round(-curve[2:10] * 0.3, 4).mean()])
    assert spans[0][4] == pytest.approx(mean_0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dimension": "joy"}, "rates one of"),
        ({"values": [0.1]}, "too short"),
        ({"values": [0.1, 2.0]}, "between|lie in"),
        ({"start": 19.9, "values": [0.1] * 50}, "does not fit"),
        ({"rate": 0}, "Hz"),
        ({"annotator": " "}, "annotator name"),
    ],
)
def test_a_trace_that_cannot_be_stored_says_why(library, kwargs, message):
    repo, media = library
    args = {"annotator": "ana", "dimension": "valence", "start": 0.0, "values": [0.1, 0.2, 0.3], **kwargs}
    with pytest.raises(CorrectionError, match=message):
        save_trace(repo, media, **args)
    assert repo.traces() == []


def test_disagreements_list_split_labels_and_far_apart_ratings_most_split_first(library):
    repo, media = library
    for person, label in (("ana", "anger"), ("ben", "sadness"), ("cleo", "fear")):
        save_correction(repo, media, person, 0.0, 1.0, label)
    for person, label in (("ana", "anger"), ("ben", "anger")):
        save_correction(repo, media, person, 1.0, 2.0, label)
    save_correction(repo, media, "ana", 2.0, 3.0, avd={"valence": 0.8})
    save_correction(repo, media, "ben", 2.0, 3.0, avd={"valence": -0.6})
    found = disagreements(repo.annotations(media.id))
    assert [(d.start, d.end) for d in found] == [(0.0, 1.0), (2.0, 3.0)]
    assert found[1].says == {"ana": "V +0.80", "ben": "V -0.60"}


def test_imported_and_pseudo_labels_are_not_annotators(library):
    repo, media = library
    save_correction(repo, media, "ana", 0.0, 1.0, "anger")
    repo.add_annotation(Annotation(None, media.id, "pseudo", "model", label="sadness", start=0.0, duration=1.0))
    assert agreement(repo.annotations(media.id)) == []


def test_the_gold_export_merges_annotators_by_majority_and_mean_or_takes_one(library):
    repo, media = library
    for person, label, valence in (("ana", "anger", 0.2), ("ben", "anger", 0.6), ("cleo", "fear", None)):
        save_correction(repo, media, person, 0.0, 1.0, label, avd={"valence": valence})
    save_trace(repo, media, "ana", "arousal", 1.0, [0.5] * 10)
    _, rows = export_table(repo, "gold")
    assert [(r["label"], r["valence"], r["arousal"], r["annotators"]) for r in rows] == [
        ("anger", pytest.approx(0.4), "", "ana ben cleo"),
        ("", "", 0.5, "ana"),
    ]
    assert rows[1]["start"] == 1.0 and rows[1]["trace_ids"] and rows[0]["media"] == "talk.wav"
    _, cleos = export_table(repo, "gold", annotator="cleo")
    assert [(r["label"], r["annotators"]) for r in cleos] == [("fear", "cleo")]


def test_a_library_label_set_maps_its_own_names_onto_the_models_classes(library):
    from emostudio.core.labels import LABELS, UnknownLabelError, label_choices

    repo, media = library
    choices = label_choices({"calm": "Neutral", "frustrated": "anger", "over the moon": "happiness"}, LABELS)
    assert choices == {"calm": "neutral", "frustrated": "anger", "over the moon": "happiness"}
    assert label_choices({}, LABELS) == {c: c for c in LABELS.labels}  # no label set: the model's classes
    with pytest.raises(UnknownLabelError, match="'bored' onto 'ennui'"):
        label_choices({"bored": "ennui"}, LABELS)
    saved = save_correction(repo, media, "ana", 0.0, 1.0, "frustrated", label_set=choices)
    assert (saved.label, saved.raw_label) == ("anger", "frustrated")
    save_correction(repo, media, "ben", 0.0, 1.0, "calm", label_set=choices)
    (split,) = disagreements(repo.annotations(media.id))
    assert split.says == {"ana": "frustrated", "ben": "calm"}  # people's agreement is on the library's names
    with pytest.raises(CorrectionError, match="unknown label"):
        save_correction(repo, media, "ana", 0.0, 1.0, "livid", label_set=choices)


def test_the_import_key_of_a_label_is_the_one_databases_already_hold():
    from emostudio.db.repository import import_key

    label = Annotation(
        None, "abc", "import", "import:labels.csv", label="anger", raw_label="ang", start=1.0, duration=2.0
    )
    # computed by the code that stored the keys before annotations gained retractions:
    # re-importing a label file after an upgrade must find the labels already there
    assert import_key(label) == "dfcf902794dea51c4a017b57795610fd86d1f75e12fbfd7597565f866fd6b4d6"


def test_one_annotators_traces_of_several_media_all_become_targets(tmp_path):
    repo = temp_repository(tmp_path)
    first, second = (
        import_paths(repo, [write_audio(tmp_path / f"{n}.wav", speech(seconds))]).added[0]
        for n, seconds in (("one", 2.0), ("two", 2.5))  # two recordings, not one twice
    )
    save_trace(repo, first, "ana", "arousal", 0.0, [0.5] * 10)
    save_trace(repo, second, "ana", "arousal", 0.0, [-0.5] * 10)
    spans = trace_spans(repo.traces(), window=1.0)
    assert {(m, v) for m, _, _, _, v in spans} == {(first.id, 0.5), (second.id, -0.5)}
