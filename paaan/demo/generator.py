"""``generate_demo_corpus``: plan, synthesise and write a demo IEMOCAP + SSPNet pair with its ground truth.

The corpus is built in ``OUT/.partial-*`` and moved into place at the end, ``ground_truth.json`` last:
a folder holds a finished demo corpus exactly when its ``ground_truth.json`` names this generator, and
``matches`` tells whether it is the corpus of a given seed, profile and scenario (``scenarios.py``).

Synthesis (espeak + voice quality + channel, per IEMOCAP utterance and per SSPNet clip) runs in a pool of
worker processes; everything else (dialog times, ratings, alignments, every file) is done in this process,
in plan order. Each utterance and clip draws only from its own streams (``plan.rng_for(seed, stream,
index)``), and ``synth.speak`` starts libespeak-ng afresh for every text, so a render does not depend on
which process made it or what it made before: any number of workers writes the same bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import multiprocessing as mp
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from paaan.data.iemocap import LABEL_MAP
from paaan.data.schema import EMOTIONS, TRAITS
from paaan.demo import expression, formats, plan, ratings, scenarios, sentences, synth
from paaan.demo.expression import CONTROLS
from paaan.demo.scenarios import Scenario
from paaan.errors import CorpusError

GENERATOR = "paaan.demo"
VERSION = "5"  # 3: ground_truth.json records the scenario (knobs and claims); 4: and the number of speakers;
# 5: the ratings follow what each utterance renders (paaan.demo.ratings), not only its label
IEMOCAP_DIR, SSPNET_DIR, GROUND_TRUTH = "IEMOCAP_full_release", "SSPNet", "ground_truth.json"
_PARTIAL_PREFIX, _PARTIAL_MARKER = ".partial-", "PARTIAL_DEMO_CORPUS"
IEMOCAP_RATE, SSPNET_RATE = 16000, 8000


@dataclass(frozen=True)
class GeneratorParams:
    """The generator's knobs besides the profile's sizes (all written into ground_truth.json)."""

    utterance_noise: float = 0.25  # sd of each utterance's control noise (control units)
    identity_sd: float = 0.2  # sd of each speaker's personality-free voice offsets
    plain_share: float = 0.2  # share of emotional utterances with emotion-free words (hap: +- E, see sentences)
    misleading_share: float = 0.08  # share of 4-class utterances worded like another emotion
    polite_share: float = 0.2  # share of neutral lines with a polite opener or closer
    sspnet_trait_sd: float = 1.6  # SSPNet speakers' true traits ~ N(0, sd)
    clip_noise: float = 0.25  # sd of each SSPNet clip's control noise
    rater_bias_sd: float = 0.6  # SSPNet rater's bias per trait
    rater_noise_sd: float = 1.0  # SSPNet rater's noise per clip and trait
    missing_alignment_share: float = 0.02  # utterances without a .wdseg file (optional per the spec)
    aside_habit_share: float = 0.8  # P(habitual aside) at |E| = 4 (expression.aside_probabilities)
    aside_genuine_share: float = 0.8  # P(aside as a genuine emotion cue) at |E| = 4 on the other side


# News reading (SSPNet's speaking style) relative to IEMOCAP's conversation: faster, flatter, firmer.
SSPNET_STYLE = np.array([0.0, -0.3, 0.5, 0.0, 0.2, -0.3, 0.0, 0.0])  # (K,) in CONTROLS order

_RATERS_CATEGORICAL = ("E1", "E2", "E3", "E4", "E5", "E6")
def generate_demo_corpus(out: str | Path, seed: int = 0, profile: str = "demo",
                         scenario: str | Scenario = "input_flip", progress: bool = False, workers: int = 0,
                         speakers: int = plan.IEMOCAP_SPEAKERS) -> Path:
    """Write ``out/IEMOCAP_full_release``, ``out/SSPNet`` and ``out/ground_truth.json``; return ``out``.

    ``scenario`` is a row name of ``scenarios.SCENARIOS`` or a Scenario: which effects are planted.
    ``workers``: synthesis processes (0 = every core, 1 = in this process). ``speakers``: IEMOCAP speakers,
    two per session (IEMOCAP's ten by default; 20, 40, ...: ``plan.check_speakers``), each with the
    profile's utterances per speaker; SSPNet keeps the profile's size.
    Deterministic: the same seed, profile, scenario and speakers give byte-identical files, whatever
    ``workers``; a corpus of more speakers holds the smaller ones of its seed, profile and scenario (its
    first sessions' files and SSPNet are theirs, byte for byte: nested draws for power curves).
    ``out`` must be missing, empty, or a previous demo corpus (replaced; other files in it are left alone);
    anything else is refused.
    """
    if workers < 0:
        raise ValueError(f"workers must be 0 (every core) or more, not {workers}")
    out = Path(out)
    sizes = plan.get_profile(profile).with_speakers(speakers)
    scenario = scenarios.resolve(scenario)
    params = GeneratorParams()
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    staging = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=out))
    try:
        (staging / _PARTIAL_MARKER).write_text(f"{GENERATOR} {VERSION}: unfinished, safe to delete\n")
        bar = tqdm(total=sizes.utterances + sizes.sspnet_clips, disable=not progress, desc="demo corpus", unit="wav")
        workers = min(workers or os.cpu_count() or 1, sizes.utterances + sizes.sspnet_clips)
        with bar, _Renderer(workers) as render:
            iemocap_truth = _write_iemocap(staging / IEMOCAP_DIR, sizes, seed, params, scenario, bar, render)
            sspnet_truth = _write_sspnet(staging / SSPNET_DIR, sizes, seed, params, bar, render)
        truth = {
            "generator": GENERATOR,
            "version": VERSION,
            "profile": profile,
            "seed": seed,
            "scenario": scenario.as_dict(),
            "parameters": _parameters(sizes, params),
            "sizes": {
                "iemocap_utterances": sizes.utterances,
                "iemocap_four_class": sizes.four_class,
                "iemocap_speakers": len(iemocap_truth["speakers"]),
                "sspnet_clips": sizes.sspnet_clips,
                "sspnet_speakers": sizes.sspnet_speakers,
                "sspnet_raters": sizes.raters,
            },
            "traits": list(TRAITS),
            "emotions": list(EMOTIONS),
            "iemocap": iemocap_truth,
            "sspnet": sspnet_truth,
        }
        (staging / GROUND_TRUTH).write_text(json.dumps(truth, indent=1) + "\n")
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# The output folder


def is_demo_corpus(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished demo corpus: a ground_truth.json written by this generator."""
    try:
        return json.loads((Path(folder) / GROUND_TRUTH).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def matches(folder: str | Path, seed: int, profile: str, scenario: str | Scenario,
            speakers: int = plan.IEMOCAP_SPEAKERS, generator: str = GENERATOR, version: str = VERSION) -> bool:
    """True when ``folder`` holds a finished demo corpus of this generator version, seed, profile, scenario
    (the same name and exactly the same knobs) and number of speakers: a corpus generated otherwise is stale
    and should be replaced. ``generator`` and ``version``: of another writer of demo corpora (the EmoBox demo's)."""
    scenario = scenarios.resolve(scenario)
    try:
        truth = json.loads((Path(folder) / GROUND_TRUTH).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(truth, dict) or not isinstance(truth.get("scenario"), dict):
        return False
    recorded = truth["scenario"]
    return (truth.get("generator") == generator and truth.get("version") == version and truth.get("seed") == seed
            and truth.get("profile") == profile and recorded.get("name") == scenario.name
            and recorded.get("knobs") == scenario.knobs()
            and (truth.get("sizes") or {}).get("iemocap_speakers") == speakers)


def _our_partials(out: Path) -> list[Path]:
    return [p for p in out.glob(_PARTIAL_PREFIX + "*") if (p / _PARTIAL_MARKER).is_file()]


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CorpusError(out, "exists and is not a folder; give a new or empty folder for the demo corpus")
    if not out.exists() or not any(out.iterdir()):
        return
    if is_demo_corpus(out) or _our_partials(out):  # a finished or an interrupted demo corpus
        return
    found = ", ".join(sorted(p.name for p in out.iterdir())[:5])
    raise CorpusError(
        out, f"is not empty and is not a demo corpus (it holds {found}); "
        "give a new or empty folder, or the folder of an earlier demo corpus to replace it"
    )


def _remove_stale_partials(out: Path) -> None:
    for partial in _our_partials(out):
        shutil.rmtree(partial, ignore_errors=True)


def _publish(staging: Path, out: Path) -> None:
    """Move the finished corpus from ``staging`` into ``out``, replacing an earlier one; ground truth last."""
    (out / GROUND_TRUTH).unlink(missing_ok=True)  # from here until the end, ``out`` reads as unfinished
    old = staging / "replaced"
    old.mkdir()
    for name in (IEMOCAP_DIR, SSPNET_DIR):
        if (out / name).exists():
            os.replace(out / name, old / name)
        os.replace(staging / name, out / name)
    os.replace(staging / GROUND_TRUTH, out / GROUND_TRUTH)


def _parameters(sizes: plan.DemoProfile, params: GeneratorParams) -> dict:
    def table(rows: dict[str, np.ndarray]) -> dict:
        return {k: dict(zip(CONTROLS, np.round(v, 4).tolist())) for k, v in rows.items()}

    return {
        "profile": dataclasses.asdict(sizes),
        "generator": dataclasses.asdict(params),
        "controls": list(CONTROLS),
        "extravert_style": table(expression.EXTRAVERT_STYLE),
        "introvert_style": table(expression.INTROVERT_STYLE),
        "other_cues": table(expression.OTHER_CUES),
        "trait_voice": table(expression.TRAIT_VOICE),
        "sspnet_style": dict(zip(CONTROLS, SSPNET_STYLE.tolist())),
        "iemocap_sample_rate": IEMOCAP_RATE,
        "sspnet_sample_rate": SSPNET_RATE,
    }


# ---------------------------------------------------------------------------------------------------------
# Rendering in worker processes


class _Renderer:
    """``render(fn, tasks)``: ``fn(*task)`` for every task, yielded in task order.

    With one worker it runs here; with more, in a pool of spawned processes (each loads libespeak-ng itself;
    spawn: no inherited threads, locks or library state). At most ``_WINDOW`` tasks per worker are in flight
    or done but not yet read, so memory holds a few utterances' audio, not the corpus' (iemocap-scale has
    10k). Used as a context manager: the pool is shut down at the end, queued tasks dropped on an error. A
    worker that dies (a crash inside libespeak-ng) raises BrokenProcessPool instead of hanging.
    """

    _WINDOW = 4

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = (ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
                      if self.workers > 1 else None)

    def __enter__(self) -> _Renderer:
        return self

    def __exit__(self, kind, *_) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=kind is not None)

    def __call__(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator:
        if self._pool is None:
            for task in tasks:
                yield fn(*task)
            return
        pending: collections.deque = collections.deque()
        for task in tasks:
            pending.append(self._pool.submit(fn, *task))
            if len(pending) >= self._WINDOW * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class RenderError(RuntimeError):
    """Synthesising one utterance or clip failed; the message names it (raised in a worker, re-raised here)."""


def _utterance_task(utt: plan.PlannedUtterance, speaker: plan.Speaker, seed: int, params: GeneratorParams,
                    scenario: Scenario) -> _Rendered:
    try:
        return _render_utterance(utt, speaker, seed, params, scenario)
    except Exception as exc:  # the pool re-raises it in the parent: say which utterance
        raise RenderError(f"demo corpus: IEMOCAP utterance {utt.id}: {type(exc).__name__}: {exc}") from exc


def _clip_task(clip: str, speaker: plan.Speaker, seed: int, index: int, seconds: tuple[float, float],
               params: GeneratorParams) -> np.ndarray:
    try:
        return _render_clip(speaker, seed, index, seconds, params)
    except Exception as exc:
        raise RenderError(f"demo corpus: SSPNet clip {clip} ({speaker.id}): {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------------------
# IEMOCAP


@dataclass
class _Rendered:
    """One synthesised utterance before it is placed in its dialog."""

    utt: plan.PlannedUtterance
    text: str
    text_cue: str
    pcm: np.ndarray  # (N,) int16 at 16 kHz
    words: list[tuple[str, float, float]]  # (word, start s, end s) within the wav
    start: float = 0.0
    end: float = 0.0
    gate: dict | None = None  # a gated utterance's ground_truth.json record (carrier and segments)
    follows: bool | None = None  # whether its carrier followed the sign of extraversion
    rated: tuple[float, float, float] = (3.0, 3.0, 3.0)  # the raters' expected (V, A, D): paaan.demo.ratings

    @property
    def duration(self) -> float:
        return len(self.pcm) / IEMOCAP_RATE


def _speaker_voice(speaker: plan.Speaker) -> np.ndarray:
    """(K,) the speaker's baseline controls: what their traits do to a voice + what makes it this person's."""
    return expression.voice_offsets(speaker.traits) + np.asarray(speaker.identity)


def _utterance_controls(label: str, traits: dict[str, float], voice: np.ndarray, rng: np.random.Generator,
                        noise: float, style: str = "extraversion") -> np.ndarray:
    """(K,) controls: the speaker's voice + this emotion as the speaker expresses it (``style``) + noise."""
    if label == "xxx":  # no agreement among annotators: a blend of two expressions
        a, b = rng.choice(["ang", "hap", "neu", "sad", "fru"], size=2, replace=False)
        w = rng.uniform(0.3, 0.7)
        cues = w * expression.emotion_cues(a, traits, style) + (1 - w) * expression.emotion_cues(b, traits, style)
    else:
        cues = expression.emotion_cues(label, traits, style)
    return voice + cues + rng.normal(0.0, noise, len(CONTROLS))


def _speak_part(text: str, controls: np.ndarray, voice: str, rng: np.random.Generator):
    """One stretch of speech with its own controls: (samples at ESPEAK_RATE, [(word, on, off) in samples])."""
    settings = synth.prosody_settings(controls)
    speech = synth.speak(text, voice, settings.rate, settings.pitch, settings.pitch_range,
                         noise_seed=int(rng.integers(1, 2**31)))
    voiced = synth.voice_quality(speech.samples, synth.ESPEAK_RATE, settings, rng)
    ends = synth.word_ends(voiced, synth.ESPEAK_RATE, speech.onsets, speech.end)
    return voiced, list(zip(speech.words, speech.onsets, ends))


def _aside_shares(params: GeneratorParams, scenario: Scenario) -> tuple[float, float]:
    """(habit, genuine) shares for ``expression.aside_probabilities``; (0, 0) when the scenario has no asides."""
    return (params.aside_habit_share, params.aside_genuine_share) if scenario.asides else (0.0, 0.0)


def _assemble(parts: list, pause_rng: np.random.Generator) -> tuple[np.ndarray, list, list[tuple[int, int]]]:
    """Spoken parts one after another with a short pause (0.08-0.2 s, drawn from ``pause_rng``) between them.

    Returns the samples (N,) at ESPEAK_RATE, every word as (word, on, off) in samples, and each part's
    (start, end) span in samples.
    """
    sr = synth.ESPEAK_RATE
    samples, words, spans, offset = [], [], [], 0
    for i, (voiced, part_words) in enumerate(parts):
        if i:
            pause = np.zeros(int(pause_rng.uniform(0.08, 0.2) * sr), np.float32)
            samples.append(pause)
            offset += len(pause)
        words += [(w, offset + on, offset + off) for w, on, off in part_words]
        spans.append((offset, offset + len(voiced)))
        samples.append(voiced)
        offset += len(voiced)
    return np.concatenate(samples), words, spans


def _record(samples: np.ndarray, words: list, lead: float, tail: float, rng: np.random.Generator):
    """Pad with ``lead`` / ``tail`` seconds of silence and pass through the studio channel.

    Returns the pcm (N,) int16 at 16 kHz, the aligned words as (word, start s, end s) within the wav (a
    token without letters has no alignment row), and the lead actually added in seconds.
    """
    sr = synth.ESPEAK_RATE
    pcm = synth.studio_channel(synth.pad(samples, sr, lead, tail), rng)
    lead = int(lead * sr) / sr  # the padding actually added
    words = [(w, lead + on / sr, lead + off / sr) for w, on, off in words if formats.alignment_word(w)]
    return pcm, words, lead


def _render_utterance(utt: plan.PlannedUtterance, speaker: plan.Speaker, seed: int, params: GeneratorParams,
                      scenario: Scenario) -> _Rendered:
    if scenario.gate != "none" and utt.label in plan.FOUR_CLASS_CODES:
        return _render_gated(utt, speaker, seed, params, scenario)
    rng = plan.rng_for(seed, "utterance", utt.index)
    sentence, cue = sentences.utterance_text(
        utt.label, speaker.traits, rng, params.plain_share, params.misleading_share, params.polite_share,
        anger_masking=scenario.anger_masking, happy_words_shift=scenario.happy_words_shift,
    )
    voice = _speaker_voice(speaker)
    controls = _utterance_controls(utt.label, speaker.traits, voice, rng, params.utterance_noise, scenario.style)
    # The local effect (expression.aside_probabilities): an aside before and/or after the sentence, spoken
    # in its own marked voice on top of the speaker's voice.
    aside_rng = plan.rng_for(seed, "aside", utt.index)
    p_burst, p_hedge = expression.aside_probabilities(utt.label, speaker.traits, *_aside_shares(params, scenario))
    burst = sentences.pick(sentences.BURST_PHRASES, aside_rng) if aside_rng.random() < p_burst else None
    hedge = sentences.pick(sentences.HEDGE_PHRASES, aside_rng) if aside_rng.random() < p_hedge else None
    said = sentences.aside_parts(sentence, burst, hedge)  # [burst,] body [, hedge]
    text = " ".join(said)  # == sentences.with_asides(sentence, burst, hedge)
    aside_cues = [expression.BURST_CUES] * bool(burst) + [None] + [expression.HEDGE_CUES] * bool(hedge)
    parts = []  # (samples, words) in speaking order
    for part, cues in zip(said, aside_cues):
        if cues is None:  # the sentence itself
            parts.append(_speak_part(part, controls, speaker.voice, rng))
        else:
            parts.append(_speak_part(part, voice + cues + aside_rng.normal(0, 0.3, len(CONTROLS)),
                                     speaker.voice, aside_rng))
    lead, tail = rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)
    samples, words, _ = _assemble(parts, aside_rng)
    pcm, words, _ = _record(samples, words, lead, tail, rng)
    kind = cue + ("+burst" if burst else "") + ("+hedge" if hedge else "")
    rated = ratings.expected_ratings([controls - voice], sentence, speaker.traits, scenario.valence_trait,
                                     scenario.valence_slope)
    return _Rendered(utt, text, kind, pcm, words, rated=rated)


def _render_gated(utt: plan.PlannedUtterance, speaker: plan.Speaker, seed: int, params: GeneratorParams,
                  scenario: Scenario) -> _Rendered:
    """A four-class utterance under the scenario's gate (scenarios.py): the sign of E decides where its emotion is.

    segment: two sentences, each with its own controls (voice + its emotion's cues + noise) and its own cue
    words, the carrier with the utterance's emotion X and the other with Y != X. modality: one sentence, X
    in the voice and neutral words, or X's words and a voice without emotion cues. Draws come from the
    streams "gate-plan" (Y and the carrier) and "gate-speech" (words, noise, synthesis), never from those of
    the ungated path, so turning a gate on leaves every other utterance as it was.
    """
    choice = plan.rng_for(seed, "gate-plan", utt.index)
    rng = plan.rng_for(seed, "gate-speech", utt.index)
    emotion, traits = LABEL_MAP[utt.label], speaker.traits  # exc -> hap
    if scenario.gate == "segment":
        other = expression.other_emotion(emotion, choice)
        carrier = expression.carrier_segment(traits, scenario.carrier_share, choice)
        voiced = worded = shown = [emotion, other] if carrier == 0 else [other, emotion]  # per segment
        record, kind = {"carrier": carrier}, "segments"
    else:
        carrier = expression.carrier_modality(traits, scenario.carrier_share, choice)
        voiced, worded = ([emotion], ["neu"]) if carrier == "audio" else (["neu"], [emotion])
        shown = [emotion]
        record = {"carrier_modality": carrier, "audio_emotion": voiced[0], "text_emotion": worded[0]}
        kind = "voice-only" if carrier == "audio" else "words-only"
    voice = _speaker_voice(speaker)
    texts = [sentences.gate_words(x, rng) for x in worded]
    parts, departures = [], []
    for text, x in zip(texts, voiced):
        controls = _utterance_controls(x, traits, voice, rng, params.utterance_noise, scenario.style)
        departures.append(controls - voice)
        parts.append(_speak_part(text, controls, speaker.voice, rng))
    lead, tail = rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)
    samples, words, spans = _assemble(parts, rng)
    pcm, words, lead = _record(samples, words, lead, tail, rng)
    sr = synth.ESPEAK_RATE
    record["segments"] = [  # start, end: seconds within the wav; a 40 ms step t is in [start, end) when 0.04 t is
        {"text": t, "emotion": x, "start": round(lead + a / sr, 4), "end": round(lead + b / sr, 4)}
        for t, x, (a, b) in zip(texts, shown, spans)
    ]
    rated = ratings.expected_ratings(departures, " ".join(texts), traits, scenario.valence_trait,
                                     scenario.valence_slope)
    return _Rendered(utt, " ".join(texts), kind, pcm, words, gate=record,
                     follows=expression.carrier_followed(traits, carrier), rated=rated)


def _place_in_dialog(rendered: list[_Rendered], rng: np.random.Generator) -> None:
    """Dialog times: turns one after another with short gaps, sometimes overlapping the previous turn."""
    t = rng.uniform(1.0, 5.0)
    for r in rendered:
        r.start = round(t, 4)
        r.end = round(r.start + r.duration, 4)
        gap = rng.uniform(0.1, 1.5) if rng.random() > 0.1 else -rng.uniform(0.05, 0.3) * r.duration
        t = r.end + gap


def _write_iemocap(root: Path, sizes: plan.DemoProfile, seed: int, params: GeneratorParams, scenario: Scenario,
                   bar, render: _Renderer) -> dict:
    speakers = {s.id: s for s in plan.iemocap_speakers(seed, params.identity_sd, scenario.traits, sizes.speakers)}
    by_dialog: dict[str, list[plan.PlannedUtterance]] = {}
    for utt in plan.plan_utterances(sizes, seed):
        by_dialog.setdefault(utt.dialog, []).append(utt)

    text_cues: dict[str, str] = {}
    expected: dict[str, list[float]] = {}  # utterance id -> the raters' expected (V, A, D)
    segments: dict[str, dict] = {}  # gated utterance id -> its carrier and segments
    followed: dict[str, list[bool]] = {sid: [] for sid in speakers}  # speaker -> did each carrier follow E
    tasks = ((utt, speakers[utt.speaker], seed, params, scenario) for utts in by_dialog.values() for utt in utts)
    results = render(_utterance_task, tasks)  # in plan order, so dialog by dialog
    for d, (dialog, utts) in enumerate(by_dialog.items()):  # one dialog in memory at a time
        rendered = []
        for r in itertools.islice(results, len(utts)):
            rendered.append(r)
            bar.update(1)
        rng = plan.rng_for(seed, "dialog", d)
        _place_in_dialog(rendered, rng)
        _write_dialog(root / f"Session{utts[0].session}", dialog, rendered, rng, d, params)
        text_cues.update({r.utt.id: r.text_cue for r in rendered})
        expected.update({r.utt.id: list(r.rated) for r in rendered})
        for r in rendered:
            if r.gate is not None:
                segments[r.utt.id] = r.gate
                followed[r.utt.speaker].append(r.follows)

    counts = plan.per_speaker_counts(sizes, seed)
    gated = scenario.gate != "none"
    # What each planted effect does for each speaker, as this scenario plants it: an effect turned off shows
    # as 0 (masking, asides, expression_shift under the fixed style) or "none"; under a gate the words of
    # four-class utterances are the gate's, so there is no plain-words probability (null).
    return {
        "speakers": {
            sid: {
                "gender": s.gender,
                "voice": s.voice,
                "traits": s.traits,
                "expression_shift": round(expression.expression_shift(s.traits, scenario.style), 4),
                "anger_masking_probability": round(
                    expression.anger_masking_probability(s.traits, scenario.anger_masking), 4),
                "aside_habit": ("burst" if s.traits["extraversion"] > 0 else "hedge") if scenario.asides else "none",
                "aside_probabilities": {
                    e: [round(p, 4) for p in expression.aside_probabilities(
                        e, s.traits, *_aside_shares(params, scenario))] for e in EMOTIONS},
                "happy_plain_words_probability": None if gated else round(
                    expression.happy_plain_words_probability(s.traits, params.plain_share,
                                                             scenario.happy_words_shift), 4),
                "carrier_follows_extraversion_share": (
                    round(float(np.mean(followed[sid])), 4) if followed[sid] else None),
                "label_counts": counts[sid],
            }
            for sid, s in speakers.items()
        },
        "label_counts": dict(sizes.label_counts),
        "utterances": sizes.utterances,
        "dialogs": len(by_dialog),
        "utterance_text_cue": dict(sorted(text_cues.items())),
        "utterance_segments": dict(sorted(segments.items())),  # empty without a gate
        "ratings": ratings.description(),
        "utterance_expected_ratings": dict(sorted(expected.items())),  # before the raters' noise
    }


def _write_dialog(session: Path, dialog: str, rendered: list[_Rendered], rng: np.random.Generator, d: int,
                  params: GeneratorParams) -> None:
    emo = session / "dialog" / "EmoEvaluation"
    wav_dir = session / "sentences" / "wav" / dialog
    align_dir = session / "sentences" / "ForcedAlignment" / dialog
    trans_dir = session / "dialog" / "transcriptions"
    for folder in (emo / "Categorical", emo / "Attribute", emo / "Self-evaluation", wav_dir, align_dir, trans_dir):
        folder.mkdir(parents=True, exist_ok=True)

    label_lines = [formats.LABEL_HEADER, ""]
    transcript: list[tuple[float, str]] = []
    categorical, attribute = [], []
    for r in rendered:
        utt = r.utt
        sf.write(wav_dir / f"{utt.id}.wav", r.pcm, IEMOCAP_RATE, subtype="PCM_16", format="WAV")
        if rng.random() >= params.missing_alignment_share:
            (align_dir / f"{utt.id}.wdseg").write_text("\n".join(_wdseg(r, rng)) + "\n")
        cats, vad_votes = _ratings(utt.label, r.rated, rng)
        vad = tuple(float(np.mean([v[i] for v in vad_votes])) for i in range(3))
        label_lines.append(formats.label_line(r.start, r.end, utt.id, utt.label, vad))
        label_lines += [formats.categorical_rater_line(rater, cat) for rater, cat in cats]
        label_lines += [formats.attribute_rater_line(f"E{i + 1}", *v) for i, v in enumerate(vad_votes)]
        label_lines.append("")
        transcript.append((r.start, formats.transcript_line(utt.id, r.start, r.end, r.text)))
        categorical.append(f"{utt.id} :{cats[0][1]}; ()")
        attribute.append(f"{utt.id} :val {vad_votes[0][0]}; act {vad_votes[0][1]}; dom  {vad_votes[0][2]};  ()")

    # Real-file quirks: a turn without an id, and (every other dialog) an MXX/FXX turn without a label.
    anchor = rendered[int(rng.integers(len(rendered)))]
    transcript.append((anchor.end + 0.01, f"{anchor.utt.id.split('_')[-1][0]}: [LAUGHTER]"))
    if d % 2 == 0:
        gender = "FM"[int(rng.integers(2))]
        start = round(anchor.end + 0.05, 4)
        transcript.append((start, formats.transcript_line(f"{dialog}_{gender}XX0", start, start + 0.5, "Yeah.")))
    transcript.sort(key=lambda pair: pair[0])

    (emo / f"{dialog}.txt").write_text("\n".join(label_lines) + "\n")
    (trans_dir / f"{dialog}.txt").write_text("\n".join(line for _, line in transcript) + "\n")
    (emo / "Categorical" / f"{dialog}_e2_cat.txt").write_text("\n".join(categorical) + "\n")
    (emo / "Attribute" / f"{dialog}_e3_atr.txt").write_text("\n".join(attribute) + "\n")
    (emo / "Self-evaluation" / f"{dialog}.anvil").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<annotation><head><video src="{dialog}.avi"/></head></annotation>\n'
    )
    if d % 3 == 0:  # macOS leftovers in some folders
        for folder, name in ((emo, f"._{dialog}.txt"), (wav_dir, f"._{rendered[0].utt.id}.wav"),
                             (trans_dir, f"._{dialog}.txt"), (align_dir, f"._{rendered[0].utt.id}.wdseg")):
            (folder / name).write_bytes(formats.APPLE_DOUBLE)


def _ratings(label: str, expected: tuple[float, float, float],
             rng: np.random.Generator) -> tuple[list[tuple[str, str]], list[tuple[int, int, int]]]:
    """Three evaluators' categories (most agree with ``label``; for xxx none agree) and two (val, act, dom)
    votes on 1-5 scales around the utterance's ``expected`` ratings (``paaan.demo.ratings``)."""
    raters = sorted(rng.choice(_RATERS_CATEGORICAL, size=3, replace=False).tolist())
    words = list(formats.CATEGORY_WORDS.values())
    if label == "xxx":
        cats = rng.choice(words, size=3, replace=False).tolist()
    else:
        agree = formats.CATEGORY_WORDS[label]
        others = [w for w in words if w != agree]
        cats = [agree, agree, agree if rng.random() < 0.5 else others[int(rng.integers(len(others)))]]
    votes = [
        tuple(int(np.clip(round(m + rng.normal(0.0, ratings.RATER_SD)), 1, 5)) for m in expected) for _ in range(2)
    ]
    return list(zip(raters, cats)), votes


def _wdseg(r: _Rendered, rng: np.random.Generator) -> list[str]:
    """The forced alignment of one utterance from espeak's word onsets (10 ms frames)."""
    last = int(r.duration * 100) - 1  # the last 10 ms frame that ends inside the wav
    segments: list[tuple[int, int, str]] = []
    cursor = 0
    for i, (word, start, end) in enumerate(r.words):
        s = max(formats.seconds_to_frame(start), cursor)
        e = max(formats.seconds_to_frame(end) - 1, s)
        if i + 1 < len(r.words):
            next_s = formats.seconds_to_frame(r.words[i + 1][1])
            e = min(e, next_s - 1) if next_s - e - 1 >= 3 else max(next_s - 1, s)
        if s > cursor:
            if cursor == 0:
                segments.append((0, s - 1, "<s>"))
            else:
                segments.append((cursor, s - 1, "<sil>"))
        token = formats.alignment_word(word)
        if token in ("THE", "A", "TO") and rng.random() < 0.3:
            token += "(2)"  # a pronunciation variant
        segments.append((s, e, token))
        cursor = e + 1
    segments.append((cursor, last, "</s>"))
    if segments[0][2] == "<s>" and segments[0][1] >= 20 and rng.random() < 0.15:
        s0, e0, _ = segments[0]
        mid = (s0 + e0) // 2
        segments[0:1] = [(s0, mid, "<s>"), (mid + 1, e0, "++BREATHING++")]
    rows = [(s, e, -int((e - s + 1) * rng.uniform(2500, 6000)), tok) for s, e, tok in segments]
    return formats.wdseg_lines(rows)


# ---------------------------------------------------------------------------------------------------------
# SSPNet


def _write_sspnet(root: Path, sizes: plan.DemoProfile, seed: int, params: GeneratorParams, bar,
                  render: _Renderer) -> dict:
    speakers = plan.sspnet_speakers(seed, sizes.sspnet_speakers, params.identity_sd, params.sspnet_trait_sd)
    owners = plan.clip_speakers(seed, sizes.sspnet_clips, sizes.sspnet_speakers)
    clips_dir, scores_dir = root / "Audio_clips", root / "Personality_Scores"
    clips_dir.mkdir(parents=True)
    scores_dir.mkdir(parents=True)
    clip_ids = [f"{i + 1:04d}" for i in range(len(owners))]
    tasks = ((clip, speakers[owner], seed, i, sizes.clip_seconds, params)
             for i, (clip, owner) in enumerate(zip(clip_ids, owners)))
    for clip, pcm in zip(clip_ids, render(_clip_task, tasks)):
        sf.write(clips_dir / f"{clip}.wav", pcm, SSPNET_RATE, subtype="PCM_16", format="WAV")
        bar.update(1)
    (clips_dir / f"._{clip_ids[0]}.wav").write_bytes(formats.APPLE_DOUBLE)

    # Paper II-A2: each clip rated by 11 raters; perceived = true trait + rater bias + noise, as BFI-10 scores.
    rng = plan.rng_for(seed, "raters")
    raters = [f"Annotator_{r + 1:02d}" for r in range(sizes.raters)]
    true = np.array([[speakers[o].traits[t] for t in TRAITS] for o in owners])  # (clips, 5)
    bias = np.round(rng.normal(0.0, params.rater_bias_sd, (len(raters), len(TRAITS))), 3)  # (raters, 5)
    for r, rater in enumerate(raters):
        scores = np.clip(np.round(true + bias[r] + rng.normal(0.0, params.rater_noise_sd, true.shape)), -4, 4)
        # one rater's file names the traits by their initials (the spec allows both)
        columns = tuple(t[0].upper() for t in TRAITS) if r == 6 else TRAITS
        rows = [(clip, tuple(int(s) for s in row)) for clip, row in zip(clip_ids, scores)]
        (scores_dir / f"{rater}.csv").write_text(formats.rater_csv(rows, columns))
    (root / "Speaker_IDs.csv").write_text(
        "clip,speaker\n" + "".join(f"{c},{speakers[o].id}\n" for c, o in zip(clip_ids, owners))
    )
    return {
        "speakers": {s.id: {"gender": s.gender, "voice": s.voice, "traits": s.traits} for s in speakers},
        "clips": {c: speakers[o].id for c, o in zip(clip_ids, owners)},
        "raters": raters,
        "rater_bias": {r: dict(zip(TRAITS, bias[i].tolist())) for i, r in enumerate(raters)},
    }


def _render_clip(speaker: plan.Speaker, seed: int, index: int, seconds: tuple[float, float],
                 params: GeneratorParams) -> np.ndarray:
    """One SSPNet clip: the speaker reads news in their own voice, cut to length, through the radio channel."""
    rng = plan.rng_for(seed, "clip", index)
    target = rng.uniform(*seconds)
    text = sentences.news_text(rng, sentences=int(np.ceil(target / 2.0)) + 1)
    controls = _speaker_voice(speaker) + SSPNET_STYLE + rng.normal(0.0, params.clip_noise, len(CONTROLS))
    settings = synth.prosody_settings(controls)
    speech = synth.speak(text, speaker.voice, settings.rate, settings.pitch, settings.pitch_range,
                         noise_seed=int(rng.integers(1, 2**31)))
    sr = synth.ESPEAK_RATE
    voiced = synth.voice_quality(speech.samples, sr, settings, rng)
    start = int(rng.uniform(0.0, 0.3) * sr)  # clips are cut from longer bulletins
    voiced = voiced[start : start + int(target * sr)]
    fade = int(0.02 * sr)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    voiced[:fade] *= ramp
    voiced[-fade:] *= ramp[::-1]
    return synth.radio_channel(voiced, rng)
