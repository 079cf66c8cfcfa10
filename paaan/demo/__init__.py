"""A demo IEMOCAP + SSPNet pair with a planted, known emotion x personality effect.

``generate_demo_corpus(out, seed, profile, scenario)`` writes ``out/IEMOCAP_full_release``, ``out/SSPNet`` and
``out/ground_truth.json`` in the layouts of docs/corpus_formats.md, with real 16-bit speech synthesised by
libespeak-ng (PyPI ``espeakng-loader``, no system packages). It is a controlled testbed for the paper's
claims (II-A, II-C, Table I), not a stand-in for the real corpora's numbers.

**Scenarios: which effects are planted, as data.** ``scenarios.SCENARIOS`` is a table, one row per
scenario: a few knobs (expression ``style``, ``anger_masking``, ``happy_words_shift``, ``asides``, a ``gate``
and its ``carrier_share``) that the generator reads, and the claims the testbed checks on that corpus
("PAaAN+_oracle > IA+T+ is greater / not greater"). ``input_flip`` (the default) plants the effects
described below; ``none`` is the null (hot cues the same for everyone, no word or aside effects; voices
still carry personality); ``segment_gate`` / ``segment_gate_75`` put each four-class utterance's emotion in
one of two sentences chosen by the sign of E; ``modality_gate`` puts it in the voice for extraverts and in
the words for introverts. ground_truth.json records the scenario (name, knobs, claims) and, under a gate,
each gated utterance's segments; ``matches(folder, seed, profile, scenario)`` tells a stale corpus from
the one asked for. The rest of this docstring describes ``input_flip``.

**Emotion in two imperfect channels.** Each IEMOCAP utterance gets prosody *controls*
(``expression.CONTROLS``: pitch level, pitch range, speaking rate, loudness, vocal tension, breathiness,
jitter, tremolo; one unit is an ordinary audible step) = the speaker's baseline voice + the emotion's cue
pattern + per-utterance noise (sd ``utterance_noise``). espeak renders pitch, range and rate; breathiness,
jitter, tremolo, tension and loudness are added to its output (``synth.voice_quality``). The words come
from templates (``sentences``): emotion-bearing words (all in GloVe's vocabulary) for a share of the
utterances, emotion-free lines for ``plain_share`` of them, another emotion's words for ``misleading_share``.
Neither channel suffices alone, and together they do better.

**The planted personality effect (what PAaAN should find).** Two traits drive it, simply and strongly.
*Extraversion* E blends two expression styles, ``w * EXTRAVERT_STYLE + (1 - w) * INTROVERT_STYLE`` with
w = (1 + E/4) / 2 (``expression.emotion_cues``). The styles point the salient cues in opposite directions:
an extravert's anger and happiness are loud, high and fast, their sadness low and quiet; an introvert's
anger is quiet, low and slow but pressed and rough, their happiness stays low and soft, their sadness is
raised and tremulous. A shift common to all emotions would be a speaker offset that per-speaker
z-normalisation removes; this one changes the *pattern*, so it survives z-normalisation, and a classifier
that does not know E sees the flipped cues cancel out. *Agreeableness* A acts on the words: an angry
utterance with lexical cues is worded politely with probability 0.5 + 0.45 * A/4 (``masked``), mostly with
the very lines neutral requests use, so polite words point to ``neu`` for a disagreeable speaker and to
``ang`` for an agreeable one; and happiness moves into the words for introverts (their plain-words share
is ``plain_share + 0.25 * E/4``). Each IEMOCAP speaker's ``expression_shift`` in ground_truth.json is the
root mean square, over the four emotions, of the norm of the E-dependent part of its cue pattern after
removing that part's mean over emotions (control units; 0 at E = 0, proportional to |E|). The 10 speakers
have |E| and |A| in [2.0, 3.8]; within every session the two speakers sit on opposite sides of both axes,
and each side of each axis has five speakers, so leave-one-session-out always trains on both sides.

**A second, local effect: asides whose meaning depends on the speaker.** Paper III-C explains PAaAN's
gain as attention that "re-estimates the important behaviour regions for each target speaker". To give
that mechanism something to find, some utterances carry a short aside in a marked voice
(``expression.aside_probabilities``): a *burst* before the sentence ("Oh man, ...": loud, high, fast,
pressed) and a *hedge* after it ("..., I guess.": quiet, low, slow, breathy). For an extravert the burst is
a habit, said in any emotion, and a hedge is rare and means sadness; for an introvert the hedge is the habit
and a burst means anger or happiness (probabilities ``aside_habit_share`` * |E|/4 and
``aside_genuine_share`` * |E|/4). The same stretch of audio and the same words thus carry the emotion for
one speaker and nothing for another.

**Personality is audible, in both corpora alike.** Every trait also moves the speaker's baseline voice
through the same map (``expression.TRAIT_VOICE``: extraverts higher, livelier, faster, louder; agreeable
speakers higher, slower, softer, breathier and less pressed; neurotic ones with more jitter and tremor),
for IEMOCAP's 10 speakers and SSPNet's many. So SSPNet clips acoustically near a speaker's utterances
come from speakers of similar personality (the retrieval of II-C2). SSPNet speakers read French news
(espeak's French voices, a disjoint pool of voice variants, a faster and flatter reading style) through a
radio/telephone channel: broadcast compression, 300-3400 Hz band, line noise and hum, 8 kHz, G.711
mu-law; IEMOCAP is a quiet small room at 16 kHz. The corpora are told apart at a glance, so retrieval on
raw features is biased by the channel and domain adaptation (II-C1) has something to fix. Each clip is
scored by 11 raters: round(true trait + rater bias + noise), clipped to BFI-10's [-4, 4].

**IEMOCAP's shape.** Label mix as in IEMOCAP (``plan.IEMOCAP_LABEL_COUNTS``, scaled for the small
profiles), dialogs with both speakers' turns, and the real files' quirks: macOS ``._*`` files, transcript
lines without an id and MXX/FXX turns without a label, EmoEvaluation sub-folders in other formats,
per-rater lines, pronunciation variants and noise tokens in the alignments, a few utterances without one.

Profiles (``PROFILES``): ``tiny`` (unit tests of other modules, seconds), ``demo`` (the whole ablation in
minutes: ~40 four-class utterances per speaker, 160 SSPNet clips of 80 speakers) and ``iemocap-scale``
(IEMOCAP's 10039 utterances, 5531 in the 4-class set; SSPNet's 640 clips of 322 speakers).
"""

from paaan.demo.generator import GENERATOR, generate_demo_corpus, is_demo_corpus, matches
from paaan.demo.plan import PROFILES, DemoProfile, get_profile, plan_utterances
from paaan.demo.scenarios import SCENARIOS, AttentionClaim, Claim, Scenario, get_scenario

__all__ = ["GENERATOR", "PROFILES", "SCENARIOS", "AttentionClaim", "Claim", "DemoProfile", "Scenario", "generate_demo_corpus",
           "get_profile", "get_scenario", "is_demo_corpus", "matches", "plan_utterances"]
