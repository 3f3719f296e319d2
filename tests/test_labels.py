import pytest

from emostudio.core.labels import BASIC, COMPOUND, COMPOUND_PAIRS, LabelSpace, UnknownLabelError, canonical_label


@pytest.mark.parametrize(
    "corpus,raw,expected",
    [
        ("EmoDB", "anger", "anger"),
        ("EmoDB", "boredom", "neutral"),
        ("EmoDB", "disgust", "disgust"),
        ("EmoDB", "fear", "fear"),
        ("EmoDB", "happiness", "happiness"),
        ("EmoDB", "sadness", "sadness"),
        ("EmoDB", "neutral", "neutral"),
        ("RAVDESS", "neutral", "neutral"),
        ("RAVDESS", "calm", "neutral"),
        ("RAVDESS", "happy", "happiness"),
        ("RAVDESS", "sad", "sadness"),
        ("RAVDESS", "angry", "anger"),
        ("RAVDESS", "fearful", "fear"),
        ("RAVDESS", "disgust", "disgust"),
        ("RAVDESS", "surprised", "surprise"),
        ("CREMA-D", "ANG", "anger"),
        ("CREMA-D", "DIS", "disgust"),
        ("CREMA-D", "FEA", "fear"),
        ("CREMA-D", "HAP", "happiness"),
        ("CREMA-D", "NEU", "neutral"),
        ("CREMA-D", "SAD", "sadness"),
        ("MEAD", "contempt", "disgust"),
        ("MEAD", "disgusted", "disgust"),
        ("MEAD", "surprised", "surprise"),
        ("MELD", "joy", "happiness"),
        ("MELD", "surprise", "surprise"),
        ("MELD", "sadness", "sadness"),
        ("EmoryNLP", "Joyful", "happiness"),
        ("EmoryNLP", "Scared", "fear"),
        ("EmoryNLP", "Mad", "anger"),
        ("FER2013", "angry", "anger"),
        ("FER2013", "surprise", "surprise"),
        ("C-EXPR-DB", "Happily_Surprised", "happily surprised"),
        ("C-EXPR-DB", "sadly angry", "sadly angry"),
    ],
)
def test_corpus_classes_map_to_the_label_space(corpus, raw, expected):
    assert canonical_label(raw) == expected
    assert expected in BASIC + COMPOUND


@pytest.mark.parametrize("raw", ["Peaceful", "Powerful", "happyy", "", "A", "W"])
def test_unmappable_classes_are_rejected_not_guessed(raw):
    with pytest.raises(UnknownLabelError, match="unknown label"):
        canonical_label(raw)


def test_label_space_shape():
    space = LabelSpace()
    assert len(space.basic) == 7 and len(space.compound) == 7
    assert space.dimensions == ("arousal", "valence", "dominance")
    assert all(a in BASIC and b in BASIC for a, b in COMPOUND_PAIRS.values())
    assert space.index("surprise") == 6
    assert space.labels == BASIC + tuple(COMPOUND_PAIRS)
    assert LabelSpace.from_json(space.to_json()) == space
    corpus = LabelSpace(basic=("neutral", "anger", "boredom"), compound=())  # a corpus's own classes
    assert corpus.compound_pairs() == [] and LabelSpace.from_json(corpus.to_json()) == corpus
