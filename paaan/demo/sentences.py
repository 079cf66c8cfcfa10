"""What the demo speakers say: English dialogue lines for IEMOCAP, French news lines for SSPNet.

An emotional utterance's words carry its emotion imperfectly (paper II-B2 reads them as GloVe vectors):

- ``cue``: a template built around emotion-bearing words (all in GloVe's vocabulary);
- ``plain``: an emotion-free line (the emotion is in the voice only);
- ``misleading``: another emotion's words (sarcasm, quoting, mixed feelings);
- ``masked``: anger worded politely ("I am sorry, but ..."), the lexical side of the planted personality
  effect: agreeable speakers mask their anger (``expression.anger_masking_probability``), and the polite
  words they use also open ordinary neutral requests, so the same words point to ``neu`` for a disagreeable
  speaker and to ``ang`` for an agreeable one.

In the gate scenarios (``scenarios.py``) a four-class utterance's words are ``gate_words`` instead: always
the emotion's cue template (a neutral line for ``neu``), never plain, misleading or masked.

Words are plain ASCII without apostrophes or digits, so that espeak's word events, the transcript and the
forced alignment name the same words.
"""

from __future__ import annotations

import numpy as np

from paaan.data.iemocap import LABEL_MAP
from paaan.data.schema import EMOTIONS
from paaan.demo.expression import anger_masking_probability, happy_plain_words_probability

SLOTS: dict[str, tuple[str, ...]] = {
    "thing": ("forms", "ticket", "letter", "keys", "papers", "license", "address", "package", "bag",
              "report", "schedule", "receipt", "passport", "money", "car"),
    "place": ("office", "station", "kitchen", "hotel", "airport", "bank", "store", "lobby", "garage",
              "counter", "house", "beach"),
    "time": ("noon", "nine", "ten", "six", "seven", "midnight"),
    "person": ("brother", "sister", "mother", "father", "friend", "cousin", "husband", "wife"),
    # emotion-bearing words (tests check that every one is in GloVe 6B's vocabulary)
    "ang_adj": ("ridiculous", "unbelievable", "outrageous", "unacceptable", "pathetic", "absurd", "insane"),
    "ang_you": ("stupid", "crazy", "deaf", "insane", "kidding"),
    "ang_state": ("angry", "furious", "mad", "annoyed", "sick"),
    "ang_verb": ("hate", "despise", "loathe"),
    "hap_adj": ("wonderful", "amazing", "fantastic", "great", "perfect", "awesome", "brilliant", "incredible"),
    "hap_state": ("happy", "excited", "glad", "thrilled", "delighted", "proud"),
    "hap_verb": ("love", "adore"),
    "sad_state": ("lonely", "empty", "lost", "alone", "sad", "miserable", "hopeless", "depressed", "heartbroken"),
    "sad_adj": ("gone", "ruined", "over", "broken", "hopeless"),
    "sad_verb": ("miss", "lost", "mourn"),
}

# Emotion-free content lines (also every emotion's ``plain`` lines).
NEUTRAL: tuple[str, ...] = (
    "I need to pick up the {thing} at {time}.",
    "Did you bring the {thing} with you?",
    "The {place} opens at {time} tomorrow.",
    "We can take the bus to the {place}.",
    "I think the {thing} is still in the {place}.",
    "She said the {thing} was on the table.",
    "Let me check the {thing} one more time.",
    "Is this the line for the {thing}?",
    "I will call you from the {place} later.",
    "He wants to meet at the {place} at {time}.",
    "Can you fill in the {thing} for me?",
    "The {thing} goes in the second box.",
    "Do you have a pen for the {thing}?",
    "My {person} is picking me up at {time}.",
    "We should leave the {place} before {time}.",
    "Where did you put the {thing}?",
)

# Polite openers and closers: ordinary in neutral requests, and the words agreeable speakers mask anger with.
POLITE_OPENERS: tuple[str, ...] = ("Excuse me,", "Sorry,", "Please,", "Honestly,")
POLITE_CLOSERS: tuple[str, ...] = ("please.", "thank you.")

CUE: dict[str, tuple[str, ...]] = {
    "ang": (  # hostile anger (disagreeable speakers, and anyone when not masking)
        "This is {ang_adj}, I told you about the {thing}!",
        "I {ang_verb} this {ang_you} {thing}!",
        "You never listen to me, it is {ang_adj}!",
        "Get out of my {place} right now!",
        "Are you {ang_you}? I want the {thing} now!",
        "Shut up and give me the {thing}!",
        "I am so {ang_state} with you right now!",
        "What the hell is wrong with you?",
    ),
    "hap": (
        "That is {hap_adj}, I {hap_verb} it!",
        "We got the {thing}, I am so {hap_state}!",
        "Oh, this is {hap_adj} news!",
        "You look {hap_adj} today!",
        "Congratulations, I am so {hap_state} for you!",
        "This is the best day of my life!",
        "I {hap_verb} you, this is {hap_adj}!",
        "We won, I am so {hap_state}!",
    ),
    "neu": NEUTRAL,
    "sad": (
        "I {sad_verb} her so much.",
        "I feel so {sad_state} without him.",
        "Everything is {sad_adj} now.",
        "He died and I am {sad_state}.",
        "I just want to cry.",
        "Nobody cares about me anymore.",
        "It hurts so much, I cannot stop crying.",
        "I am so {sad_state} since my {person} left.",
    ),
    "fru": (
        "Why does this always happen to me?",
        "I have been waiting here for hours.",
        "Nothing ever works in this {place}.",
        "I give up, this is not working.",
        "How many times do I have to ask for the {thing}?",
        "This is so frustrating.",
    ),
    "sur": (
        "What? Are you serious?",
        "Really? I had no idea!",
        "No way, you are kidding me!",
        "Wow, I did not expect that.",
    ),
    "fea": (
        "I am scared, something is wrong.",
        "Please do not leave me here.",
        "What if they find out?",
        "I am afraid of what happens next.",
    ),
    "dis": (
        "That is disgusting.",
        "Ugh, get that away from me.",
    ),
}

# Anger worded politely: polite words plus mild complaint words (again, still, waiting, already, twice).
MASKED_ANGER: tuple[str, ...] = (
    "I am sorry, but I asked for the {thing} at {time}.",
    "Excuse me, could you please check the {thing} again?",
    "Sorry, I have been waiting at the {place} since {time}.",
    "With respect, that is not what we agreed.",
    "I am afraid the {thing} is still not ready.",
    "Please, I would appreciate an answer about the {thing}.",
    "Thank you, but I already gave you the {thing} twice.",
    "Honestly, I would rather you told me about the {thing}.",
)

# SSPNet: French radio news (Radio Suisse Romande in the real corpus), read by many speakers.
FRENCH_NEWS: tuple[str, ...] = (
    "Le gouvernement a présenté ce matin un nouveau projet de loi.",
    "Les négociations reprendront la semaine prochaine à Genève.",
    "La météo annonce de la pluie sur toute la Suisse romande.",
    "Le conseil fédéral se réunira demain à Berne.",
    "Les prix de l'énergie ont encore augmenté ce mois-ci.",
    "Un accident a perturbé le trafic sur l'autoroute du Léman.",
    "Le match de hockey a été reporté à samedi soir.",
    "Les syndicats appellent à une grève générale lundi.",
    "La banque nationale maintient ses taux d'intérêt.",
    "Une exposition de peinture ouvre ses portes à Lausanne.",
    "Les élections cantonales auront lieu au printemps.",
    "Le festival de jazz attend plus de cent mille visiteurs.",
    "Les agriculteurs s'inquiètent de la sécheresse.",
    "Un nouveau tunnel ferroviaire sera inauguré en juin.",
    "La police recherche toujours des témoins de l'incident.",
    "Les exportations horlogères progressent de trois pour cent.",
    "Le parlement a rejeté la proposition de réforme fiscale.",
    "Les écoles resteront fermées jusqu'à la fin de la semaine.",
    "Une tempête de neige a coupé plusieurs routes de montagne.",
    "Le ministre a rencontré ses homologues européens à Bruxelles.",
)


def fill(template: str, rng: np.random.Generator) -> str:
    """Fill every ``{slot}`` of ``template`` with a word drawn from SLOTS."""
    out = template
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        words = SLOTS[out[start + 1 : end]]
        out = out[:start] + words[int(rng.integers(len(words)))] + out[end + 1 :]
    return out


def pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    """One of ``options``, drawn uniformly (one integer from ``rng``)."""
    return options[int(rng.integers(len(options)))]


def polite_neutral(rng: np.random.Generator) -> str:
    """A neutral request with a polite opener or closer ("Excuse me, where did you put the keys?")."""
    line = fill(pick(NEUTRAL, rng), rng)
    if rng.random() < 0.5:
        return f"{pick(POLITE_OPENERS, rng)} {line[0].lower()}{line[1:]}"
    closer = pick(POLITE_CLOSERS, rng)
    return f"{line[:-1]}, {closer[:-1]}{line[-1]}"  # keep the line's own "?" or "."


def utterance_text(
    label: str,
    traits: dict[str, float],
    rng: np.random.Generator,
    plain_share: float,
    misleading_share: float,
    polite_share: float,
    anger_masking: bool = True,
    happy_words_shift: bool = True,
) -> tuple[str, str]:
    """The words of one IEMOCAP utterance and how they relate to its emotion.

    Returns ``(text, kind)`` with kind in ``cue | plain | misleading | masked | neutral``. ``plain_share``
    of emotional utterances (for ``hap`` it moves with extraversion) have emotion-free words,
    ``misleading_share`` of all 4-class utterances borrow another emotion's words, ``polite_share`` of
    neutral lines open or close politely. ``xxx`` and ``oth`` borrow any label's words. With
    ``anger_masking`` off anger is never masked; with ``happy_words_shift`` off ``hap`` uses ``plain_share``
    too (the scenarios' knobs). Either way the same draws are made, so only the changed choices differ.
    """
    label = LABEL_MAP.get(label, label)  # exc -> hap
    if label in ("xxx", "oth"):
        label = pick(("ang", "hap", "neu", "sad", "fru"), rng)
    four_class = label in EMOTIONS
    if four_class and rng.random() < misleading_share:
        other = pick(tuple(x for x in EMOTIONS if x != label), rng)
        return fill(pick(CUE[other], rng), rng), "misleading"
    if label == "neu":
        if rng.random() < polite_share:
            return polite_neutral(rng), "neutral"
        return fill(pick(NEUTRAL, rng), rng), "neutral"
    plain = happy_plain_words_probability(traits, plain_share, happy_words_shift) if label == "hap" else plain_share
    if rng.random() < plain:
        return fill(pick(NEUTRAL, rng), rng), "plain"
    if label == "ang" and rng.random() < anger_masking_probability(traits, anger_masking):
        # mostly the very lines a neutral request uses, sometimes with a complaint showing through
        line = polite_neutral(rng) if rng.random() < 0.6 else fill(pick(MASKED_ANGER, rng), rng)
        return line, "masked"
    return fill(pick(CUE[label], rng), rng), "cue"


def gate_words(emotion: str, rng: np.random.Generator) -> str:
    """The words of a gate segment (or a gated utterance's words): ``emotion``'s cue template, filled; for
    ``neu`` a neutral line. ``exc`` counts as ``hap``."""
    return fill(pick(CUE[LABEL_MAP.get(emotion, emotion)], rng), rng)


# The asides of expression.aside_probabilities: said before (burst) or after (hedge) the sentence.
BURST_PHRASES: tuple[str, ...] = ("Oh man", "Wow", "Come on", "Oh boy", "Seriously", "Whoa")
HEDGE_PHRASES: tuple[str, ...] = ("I guess", "you know", "sort of", "I suppose", "kind of", "more or less")


def aside_parts(sentence: str, burst: str | None, hedge: str | None) -> list[str]:
    """What is said, part by part: ``[burst + ",", body, hedge + end]`` (the asides only when given).

    Before a hedge the body drops its final punctuation for a comma and the hedge carries the end mark
    ("I am tired." -> "I am tired,", "I guess."); after a burst the body is lower-cased unless it starts
    with "I " ("Oh man,", "what now?").
    """
    body, parts = sentence, []
    if hedge:
        end = sentence[-1] if sentence[-1] in ".?!" else "."
        body = f"{sentence.rstrip('.?!')},"
    if burst:
        parts.append(f"{burst},")
        if not body.startswith("I "):
            body = body[0].lower() + body[1:]
    parts.append(body)
    if hedge:
        parts.append(f"{hedge}{end}")
    return parts


def with_asides(sentence: str, burst: str | None, hedge: str | None) -> str:
    """The transcript of a sentence with its asides: "Oh man, <sentence>" and "<sentence>, I guess." """
    return " ".join(aside_parts(sentence, burst, hedge))


def news_text(rng: np.random.Generator, sentences: int) -> str:
    """``sentences`` French news sentences in random order (no sentence twice in a row)."""
    order = rng.permutation(len(FRENCH_NEWS))
    picked = [FRENCH_NEWS[order[i % len(order)]] for i in range(sentences)]
    return " ".join(picked)
