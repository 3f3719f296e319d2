"""Candidate captions composed from a span's facts, with varied phrasing.

Each candidate is one draw from a small grammar: which of the measured voice attributes
to mention (levels that stand out are mentioned more often), which emotion reading (the
top emotion; with arousal; with the second emotion; the compound; the second emotion
first when the model hesitates), which sentence frame and which synonyms. Every phrase
comes from ``phrases``' tables, so ``claims_of`` reads back exactly what was meant.
"""

from __future__ import annotations

import random

from emostudio.core.labels import COMPOUND_PAIRS
from emostudio.model.captions.attributes import Facts
from emostudio.model.captions.phrases import (
    AROUSAL_WORDS,
    EMOTION_NOUNS,
    EMOTION_WORDS,
    FACE_WORDS,
    VOICE_ADJECTIVES,
    VOICE_ADVERBS,
    language_name,
)

SUBJECTS = (
    *(f"{d} {n}" for d in ("The", "This", "A", "One") for n in ("speaker", "talker", "person", "individual", "voice")),
    "Someone",
    "Somebody",
    "Whoever is speaking",
)
VERBS = (
    *("speaks", "talks", "says this", "replies", "answers", "remarks", "states", "responds", "comments"),
    *("explains", "continues", "adds", "utters this", "observes", "recounts", "mentions", "notes", "reports"),
    *("insists", "relates", "offers this", "puts it", "announces this", "describes it", "goes on", "chimes in"),
)
SEEMS = ("sounds", "seems", "appears", "is audibly", "feels")
SEEM = ("sound", "seem", "appear", "are audibly", "feel")
SEEMING = ("sounding", "seeming", "appearing", "feeling")
MOODS = (
    *("The tone is", "The mood is", "The feeling is", "The affect is", "Emotionally, they are", "Their state:"),
    *("Overall:", "The impression is", "Emotion:", "What comes through is", "The undertone is"),
)
HEDGES = {
    "sure": (
        *("clearly", "unmistakably", "plainly", "distinctly", "decidedly", "openly", "very", "thoroughly"),
        *("truly", "evidently", "obviously", "genuinely", "undeniably", "markedly"),
    ),
    "fair": ("rather", "fairly", "quite", "noticeably", "pretty", "reasonably", "largely", "mostly", "apparently"),
    "unsure": (
        *("somewhat", "slightly", "a little", "mildly", "vaguely", "possibly", "perhaps", "arguably", "partly"),
        *("marginally", "a bit", "lightly"),
    ),
}
"""How sure the model is of the emotion, said before it (its top probability: >= 0.75, >= 0.5, less)."""
VOICE_NOUNS = ("voice", "voice", "tone", "register", "timbre", "delivery")
PLURAL_VOICE_NOUNS = ("tones", "notes", "inflections", "cadences")
MENTION_STANDING_OUT, MENTION_NORMAL = 0.85, 0.2
"""How often a candidate mentions a voice attribute at a high or low level, and at a normal one (grammar choices, not measures)."""
QUOTE_SHARE = 0.15  # how often a candidate quotes the (read) transcript
QUOTE_WORDS = 6
CLOSE_CALL = 0.3  # the second emotion may lead a candidate when the model gives it this much


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _mentioned(facts: Facts, rng: random.Random) -> tuple[list[str], list[str]]:
    """Adverbials and voice adjectives for the attributes this candidate mentions."""
    adverbs, adjectives = [], []
    for name, m in facts.voice.items():
        stands_out = m.level != "normal"
        if rng.random() > (MENTION_STANDING_OUT if stands_out else MENTION_NORMAL):
            continue
        if (name, m.level) in VOICE_ADVERBS:
            adverbs.append(rng.choice(VOICE_ADVERBS[(name, m.level)]))
        elif (name, m.level) in VOICE_ADJECTIVES:
            adjectives.append(rng.choice(VOICE_ADJECTIVES[(name, m.level)]))
    rng.shuffle(adverbs)
    return adverbs[:2], adjectives[:2]


def _emotion(facts: Facts, rng: random.Random) -> str:
    """How this candidate reads the span's emotion: one of the plans the facts allow."""
    named = facts.named_emotions()
    plans = ["top", "top"]
    if facts.arousal_level() in ("high", "low"):
        plans.append("arousal")
    if len(named) > 1 and named[1] != "neutral":
        plans.append("second")
    compound = facts.named_compound()
    if compound and all(("emotion", e) in facts.allowed() for e in COMPOUND_PAIRS.get(compound, ("?",))):
        plans.append("compound")
    if len(named) > 1 and facts.emotions[named[1]] >= CLOSE_CALL:
        plans.append("second-first")
    plan = rng.choice(plans)
    first = named[1] if plan == "second-first" else named[0]
    word = rng.choice(EMOTION_WORDS.get(first, (first,)))
    if plan != "compound" and rng.random() < 0.7:
        p = facts.emotions[first]
        word = f"{rng.choice(HEDGES['sure' if p >= 0.75 else 'fair' if p >= 0.5 else 'unsure'])} {word}"
    if plan == "arousal":
        return f"{word} and {rng.choice(AROUSAL_WORDS[facts.arousal_level()])}"
    if plan == "second":
        hint = rng.choice(("a hint of", "a touch of", "some", "an edge of", "a trace of", "an undercurrent of"))
        return f"{word}, with {hint} {rng.choice(EMOTION_NOUNS.get(named[1], (named[1],)))}"
    if plan == "compound":
        return compound
    return word


def _voice_clause(adjectives: list[str], rng: random.Random) -> str:
    if not adjectives:
        return ""
    noun = rng.choice(VOICE_NOUNS)
    if rng.random() < 0.5:  # "in deep, flat tones": no article
        return f"{rng.choice(('in', 'with'))} {', '.join(adjectives)} {rng.choice(PLURAL_VOICE_NOUNS)}"
    described = f"{', '.join(adjectives)} {noun}"
    article = "an" if described[0] in "aeiou" else "a"
    return f"{rng.choice(('in', 'with', 'using'))} {article} {described}"


def _sentence(facts: Facts, rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS)
    verb = rng.choice(VERBS)
    if facts.language:
        language = language_name(facts.language)
        own = verb in ("speaks", "talks") and rng.random() < 0.5  # "speaks German"; "replies in German"
        verb = f"speaks {language}" if own else f"{verb} in {language}"
    adverbs, adjectives = _mentioned(facts, rng)
    emotion = _emotion(facts, rng)
    manner = " ".join(x for x in (_join(adverbs), _voice_clause(adjectives, rng)) if x)
    lower = subject[0].lower() + subject[1:]
    if not manner:
        frames = ("{S} {seems} {E}", "{S} {V} and {seems} {E}", "{S} {V}, {seeming} {E}", "{S} {V}. {mood} {E}")
    else:
        frames = (
            "{S} {V} {M}; they {seem} {E}",
            "{S} {V} {M}, {seeming} {E}",
            "{Seeming} {E}, {s} {V} {M}",
            "{S} {seems} {E} and {V} {M}",
            "{S} {V} {M}. {mood} {E}",
            "{S}, {E}, {V} {M}",
        )
    if facts.language:  # the language is said with the verb: only frames that have one
        frames = tuple(f for f in frames if "{V}" in f)
    seeming = rng.choice(SEEMING)
    text = rng.choice(frames).format(
        S=subject,
        s=lower,
        V=verb,
        M=manner,
        E=emotion,
        seems=rng.choice(SEEMS),
        seem=rng.choice(SEEM),
        seeming=seeming,
        Seeming=seeming[0].upper() + seeming[1:],
        mood=rng.choice(MOODS),
    )
    text = " ".join(text.replace(" ;", ";").replace(" ,", ",").replace(" .", ".").split())
    face = facts.face_label()
    if face and rng.random() < 0.8:
        text += rng.choice(
            (
                "; their face shows {}",
                ", and their face shows {}",
                "; on camera, {}",
                ", with {} on their face",
                "; the video shows {}",
            )
        ).format(rng.choice(FACE_WORDS.get(face, (f"a look of {face}",))))
    if facts.quote and rng.random() < QUOTE_SHARE:
        words = facts.quote.split()
        quote = " ".join(words[:QUOTE_WORDS]) + ("…" if len(words) > QUOTE_WORDS else "")
        text += rng.choice((', saying "{}"', ': "{}"')).format(quote)
    text = text[0].upper() + text[1:]
    return text if text.endswith(('."', '!"', '?"', '…"')) else text + "."


def candidates(facts: Facts, n: int, seed: int) -> list[str]:
    """Up to ``n`` distinct candidate captions of ``facts`` (the same seed, the same candidates)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n * 4):
        text = _sentence(facts, rng)
        if text not in out:
            out.append(text)
        if len(out) == n:
            break
    return out
