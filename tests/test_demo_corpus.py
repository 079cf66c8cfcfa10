"""The demo corpus generator: layout and formats of docs/corpus_formats.md, determinism, counts, and the
planted emotion x personality effect (paaan.demo's docstring)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paaan.data.schema import TRAITS
from paaan.demo import generate_demo_corpus, get_profile, is_demo_corpus, plan_utterances
from paaan.demo import expression, formats, plan, sentences, synth
from paaan.errors import CorpusError

# The forms of docs/corpus_formats.md, as simple regexes.
LABEL_RE = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses0(\d)[FM]_(?:impro|script)\d\d(?:_\d)?_([FM])\d{3})\t"
    r"(ang|hap|exc|neu|sad|fru|sur|fea|dis|oth|xxx)\t\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$"
)
RATER_RE = re.compile(r"^[CA]-[EFM]\d:\t.+;\t\(.*\)$")
TRANSCRIPT_RE = re.compile(r"^(\S+) \[(\d{3}\.\d{4})-(\d{3}\.\d{4})\]: (.+)$")
NO_ID_RE = re.compile(r"^[FM]: .+$")
WDSEG_ROW_RE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?\d+)\s+(\S+)$")
NOT_WORDS = {"<s>", "</s>", "<sil>"}


@pytest.fixture(scope="module")
def tiny(tiny_corpus) -> Path:
    """conftest's session-wide tiny corpus (seed 0); the tests here only read it."""
    return tiny_corpus


def _labels(root: Path) -> dict[str, dict]:
    """utterance id -> {start, end, label, session, file} from every EmoEvaluation/<dialog>.txt."""
    out = {}
    for path in sorted(root.glob("IEMOCAP_full_release/Session*/dialog/EmoEvaluation/Ses*.txt")):
        lines = path.read_text().splitlines()
        assert lines[0] == formats.LABEL_HEADER
        for i, line in enumerate(lines):
            if line.startswith("["):
                m = LABEL_RE.match(line)
                assert m, f"{path}:{i + 1}: {line!r}"
                out[m[3]] = dict(start=float(m[1]), end=float(m[2]), label=m[6], session=int(m[4]), file=path)
                assert RATER_RE.match(lines[i + 1]), "a label line is followed by per-rater lines"
    return out


def _transcripts(root: Path) -> tuple[dict[str, dict], list[str]]:
    """utterance id -> {start, end, text}, and the lines without an id."""
    out, no_id = {}, []
    for path in sorted(root.glob("IEMOCAP_full_release/Session*/dialog/transcriptions/Ses*.txt")):
        for line in path.read_text().splitlines():
            m = TRANSCRIPT_RE.match(line)
            if m:
                out[m[1]] = dict(start=float(m[2]), end=float(m[3]), text=m[4])
            else:
                assert NO_ID_RE.match(line), f"{path}: {line!r}"
                no_id.append(line)
    return out, no_id


def _wav_path(root: Path, utt: str) -> Path:
    dialog = utt.rsplit("_", 1)[0]
    return root / f"IEMOCAP_full_release/Session{int(utt[3:5])}/sentences/wav/{dialog}/{utt}.wav"


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------------------------------------
# Layout and audio


def test_layout_follows_the_spec(tiny):
    iemocap = tiny / "IEMOCAP_full_release"
    for n in range(1, 6):
        session = iemocap / f"Session{n}"
        for sub in ("dialog/EmoEvaluation", "dialog/transcriptions", "sentences/wav", "sentences/ForcedAlignment",
                    "dialog/EmoEvaluation/Categorical", "dialog/EmoEvaluation/Attribute",
                    "dialog/EmoEvaluation/Self-evaluation"):
            assert (session / sub).is_dir(), session / sub
        dialogs = sorted(p.stem for p in (session / "dialog/EmoEvaluation").glob("Ses*.txt"))
        assert dialogs and all(re.fullmatch(rf"Ses0{n}[FM]_(impro|script)\d\d(_\d)?", d) for d in dialogs)
        for d in dialogs:
            assert (session / f"dialog/transcriptions/{d}.txt").is_file()
            assert (session / f"sentences/wav/{d}").is_dir()
    labels = _labels(tiny)
    assert all(_wav_path(tiny, utt).is_file() for utt in labels)
    assert list(tiny.rglob("._*")), "macOS ._* leftovers are part of the real files' quirks"
    ssp = tiny / "SSPNet"
    clips = sorted(p.stem for p in (ssp / "Audio_clips").glob("[0-9]*.wav"))
    assert len(clips) == get_profile("tiny").sspnet_clips and clips[0] == "0001"
    raters = sorted((ssp / "Personality_Scores").glob("*.csv"))
    assert [p.stem for p in raters] == [f"Annotator_{i:02d}" for i in range(1, 12)]
    assert (ssp / "Speaker_IDs.csv").read_text().splitlines()[0] == "clip,speaker"
    assert is_demo_corpus(tiny)


def test_wavs_are_16_bit_mono_at_16_and_8_khz_and_not_silent(tiny):
    for pattern, rate in (("IEMOCAP_full_release/**/sentences/wav/*/Ses*.wav", 16000),
                          ("SSPNet/Audio_clips/[0-9]*.wav", 8000)):
        wavs = sorted(tiny.glob(pattern))
        assert wavs
        for path in wavs:
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype, info.format) == (rate, 1, "PCM_16", "WAV"), path
            x, _ = sf.read(path, dtype="float64")
            assert 20 * np.log10(np.sqrt(np.mean(x**2))) > -50.0, f"{path} is (nearly) silent"


def test_same_seed_gives_identical_files_and_another_seed_differs(tiny, tmp_path):
    again = generate_demo_corpus(tmp_path / "again", seed=0, profile="tiny")
    first = _digest(tiny)
    assert _digest(again) == first
    other = _digest(generate_demo_corpus(tmp_path / "other", seed=1, profile="tiny"))
    same_names = set(other) & set(first)
    assert "ground_truth.json" in same_names
    assert sum(other[n] != first[n] for n in same_names) > len(same_names) / 2


def test_any_number_of_workers_writes_the_same_bytes(tiny, tmp_path):
    # every draw comes from its utterance's or clip's own stream, and files are written in plan order
    one = _digest(generate_demo_corpus(tmp_path / "one", seed=0, profile="tiny", workers=1))
    two = _digest(generate_demo_corpus(tmp_path / "two", seed=0, profile="tiny", workers=2))
    assert len(one) > 200 and one == two == _digest(tiny)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_synthesis_names_its_utterance_in_this_process_and_in_a_worker(workers):
    import dataclasses

    from paaan.demo.generator import GeneratorParams, RenderError, _Renderer, _utterance_task
    from paaan.demo.scenarios import get_scenario

    utt = plan_utterances(get_profile("tiny"), seed=0)[3]
    speaker = {s.id: s for s in plan.iemocap_speakers(0, 0.2)}[utt.speaker]
    mute = dataclasses.replace(speaker, voice="no-such-voice")
    task = (utt, mute, 0, GeneratorParams(), get_scenario("input_flip"))
    with pytest.raises(RenderError, match=rf"utterance {utt.id}: RuntimeError: .*no voice 'no-such-voice'"):
        with _Renderer(workers) as render:
            list(render(_utterance_task, [task]))


def test_words_espeak_speaks_together_share_the_span_by_letters():
    # events at characters 1, 4, 9, 13, 18; "am" (char 15) has none: it shares "I"'s span 300..500 by
    # letters 1 : 2, so it starts at 300 + 200 * 1 / 3 = 366.7 -> 367
    words, onsets = synth.word_onsets("He died and I am lost.", [(1, 0), (4, 100), (9, 200), (13, 300), (18, 500)], 700)
    assert words == ("He", "died", "and", "I", "am", "lost.")
    assert onsets == (0, 100, 200, 300, 367, 500)


def test_synthesis_does_not_depend_on_what_was_spoken_before():
    # libespeak-ng keeps state between texts; speak() reloads it, so a call's samples are its own
    first = synth.speak("Did you bring the keys?", "en-us+f3", 170, 50, 50, noise_seed=7).samples
    synth.speak("Le match a été reporté.", "fr+m7", 220, 80, 10, noise_seed=3)
    again = synth.speak("Did you bring the keys?", "en-us+f3", 170, 50, 50, noise_seed=7).samples
    assert np.array_equal(first, again)


# ------------------------------------------------------------------------------------------------------
# Labels, transcripts, alignments


def test_labels_and_transcripts_agree_and_match_the_wavs(tiny):
    labels = _labels(tiny)
    transcripts, no_id = _transcripts(tiny)
    assert len(labels) == get_profile("tiny").utterances
    for utt, lab in labels.items():
        assert (transcripts[utt]["start"], transcripts[utt]["end"]) == (lab["start"], lab["end"]), utt
        duration = sf.info(_wav_path(tiny, utt)).duration
        assert abs((lab["end"] - lab["start"]) - duration) < 1e-3, utt
    # quirks: lines without an id and MXX/FXX turns, neither of them labelled
    assert no_id
    unlabelled = [u for u in transcripts if u not in labels]
    assert unlabelled and all(re.search(r"_[FM]XX\d$", u) for u in unlabelled)
    # turns of a dialog are in time order in both files
    for path in tiny.glob("IEMOCAP_full_release/Session*/dialog/EmoEvaluation/Ses*.txt"):
        starts = [float(m[1]) for m in map(LABEL_RE.match, path.read_text().splitlines()) if m]
        assert starts == sorted(starts)


def test_speaker_is_the_session_and_the_gender_of_the_last_part(tiny):
    labels = _labels(tiny)
    speakers = {f"Ses{u[3:5]}{u.rsplit('_', 1)[1][0]}" for u in labels}
    assert speakers == {f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"}
    # both speakers talk in dialogs of either marker (Ses01F_... holds M turns too)
    assert any(u.startswith("Ses01F") and u.rsplit("_", 1)[1].startswith("M") for u in labels)


def test_alignments_name_the_spoken_words_inside_the_wav(tiny):
    labels = _labels(tiny)
    transcripts, _ = _transcripts(tiny)
    checked = 0
    for utt in labels:
        dialog = utt.rsplit("_", 1)[0]
        path = tiny / f"IEMOCAP_full_release/Session{int(utt[3:5])}/sentences/ForcedAlignment/{dialog}/{utt}.wdseg"
        if not path.exists():  # optional per utterance
            continue
        lines = path.read_text().splitlines()
        assert lines[0] == formats.WDSEG_HEADER and lines[-1].startswith(" Total score:")
        rows = [WDSEG_ROW_RE.match(line) for line in lines[1:-1]]
        assert all(rows), path
        frames = [(int(m[1]), int(m[2])) for m in rows]
        assert frames[0][0] == 0 and all(b[0] == a[1] + 1 for a, b in zip(frames, frames[1:])), "contiguous frames"
        assert all(s <= e for s, e in frames)
        assert (frames[-1][1] + 1) / 100 <= sf.info(_wav_path(tiny, utt)).duration, "timings inside the wav"
        assert int(lines[-1].split(":")[1]) == sum(int(m[3]) for m in rows)
        tokens = [re.sub(r"\(\d\)$", "", m[4]) for m in rows]
        words = [t for t in tokens if t not in NOT_WORDS and not t.startswith("++")]
        spoken = [formats.alignment_word(w) for w in transcripts[utt]["text"].split()]
        assert words == [w for w in spoken if w], utt
        checked += 1
    assert checked > 0.9 * len(labels)


def test_sspnet_rater_files_hold_bfi10_scores_for_every_clip(tiny):
    ssp = tiny / "SSPNet"
    clips = {p.stem for p in (ssp / "Audio_clips").glob("[0-9]*.wav")}
    initials = tuple(t[0].upper() for t in TRAITS)
    for path in sorted((ssp / "Personality_Scores").glob("*.csv")):
        header, *rows = path.read_text().splitlines()
        assert header in (",".join(("clip", *TRAITS)), ",".join(("clip", *initials))), path
        assert {r.split(",")[0] for r in rows} == clips
        scores = [int(v) for r in rows for v in r.split(",")[1:]]
        assert len(scores) == 5 * len(clips) and all(-4 <= s <= 4 for s in scores)
    speaker_ids = dict(line.split(",") for line in (ssp / "Speaker_IDs.csv").read_text().splitlines()[1:])
    truth = json.loads((tiny / "ground_truth.json").read_text())
    assert speaker_ids == truth["sspnet"]["clips"] and set(speaker_ids) == clips


# ------------------------------------------------------------------------------------------------------
# Ground truth and the planted effect


def test_ground_truth_holds_ten_speakers_with_five_traits(tiny):
    truth = json.loads((tiny / "ground_truth.json").read_text())
    assert (truth["generator"], truth["profile"], truth["seed"]) == ("paaan.demo", "tiny", 0)
    assert truth["traits"] == list(TRAITS)
    speakers = truth["iemocap"]["speakers"]
    assert sorted(speakers) == sorted(f"Ses0{s}{g}" for s in range(1, 6) for g in "FM")
    for sid, s in speakers.items():
        assert list(s["traits"]) == list(TRAITS) and all(-4 <= v <= 4 for v in s["traits"].values())
        assert s["expression_shift"] == pytest.approx(expression.expression_shift(s["traits"]), abs=1e-4)
        assert s["expression_shift"] > 0
    assert len(truth["sspnet"]["speakers"]) == get_profile("tiny").sspnet_speakers
    assert truth["sizes"]["iemocap_utterances"] == get_profile("tiny").utterances


def test_both_sides_of_the_driving_traits_in_every_session():
    # leave-one-session-out must always train on extraverts and introverts, agreeable and not
    for seed in range(5):
        speakers = {s.id: s for s in plan.iemocap_speakers(seed, identity_sd=0.2)}
        for trait in ("extraversion", "agreeableness"):
            for n in range(1, 6):
                f, m = speakers[f"Ses0{n}F"].traits[trait], speakers[f"Ses0{n}M"].traits[trait]
                assert f * m < 0 and min(abs(f), abs(m)) >= 2.0
            assert sum(s.traits[trait] > 0 for s in speakers.values()) == 5


def test_style_weight_and_masking_at_the_poles():
    assert [expression.style_weight({"extraversion": e}) for e in (-4.0, 0.0, 2.0, 4.0)] == [0.0, 0.5, 0.75, 1.0]
    masking = [expression.anger_masking_probability({"agreeableness": a}) for a in (-4.0, 0.0, 4.0)]
    assert masking == pytest.approx([0.05, 0.5, 0.95])
    assert expression.happy_plain_words_probability({"extraversion": 2.0}, base=0.25) == pytest.approx(0.375)


def test_extraversion_flips_the_direction_of_emotion_cues():
    loud = expression.CONTROLS.index("volume")
    pitch = expression.CONTROLS.index("pitch")
    extravert, introvert = {"extraversion": 4.0}, {"extraversion": -4.0}
    assert np.array_equal(expression.emotion_cues("ang", extravert), expression.EXTRAVERT_STYLE["ang"])
    assert np.array_equal(expression.emotion_cues("ang", introvert), expression.INTROVERT_STYLE["ang"])
    assert expression.emotion_cues("ang", extravert)[loud] > 0 > expression.emotion_cues("ang", introvert)[loud]
    assert expression.emotion_cues("sad", extravert)[pitch] < 0 < expression.emotion_cues("sad", introvert)[pitch]
    assert np.array_equal(expression.emotion_cues("exc", extravert), expression.emotion_cues("hap", extravert))


def test_expression_shift_is_zero_without_extraversion_and_grows_with_it(monkeypatch):
    assert expression.expression_shift({"extraversion": 0.0}) == 0.0
    full = expression.expression_shift({"extraversion": 4.0})
    assert expression.expression_shift({"extraversion": -4.0}) == pytest.approx(full)
    assert expression.expression_shift({"extraversion": 2.0}) == pytest.approx(full / 2)
    # by hand for a one-control table: parts (+1, -1, 0, 0) -> centred the same -> sqrt((1 + 1) / 4)
    monkeypatch.setattr(expression, "personality_part", lambda traits: np.array([[1.0], [-1.0], [0.0], [0.0]]))
    assert expression.expression_shift({"extraversion": 4.0}) == pytest.approx(np.sqrt(0.5))


def test_masked_anger_uses_polite_words_and_no_hostile_ones():
    hostile = set(sentences.SLOTS["ang_adj"] + sentences.SLOTS["ang_you"] + sentences.SLOTS["ang_state"])
    polite = {"sorry", "excuse", "please", "honestly", "thank", "respect", "afraid", "appreciate"}
    rng = np.random.default_rng(0)
    agreeable = {"agreeableness": 4.0, "extraversion": 0.0}
    lines = [sentences.utterance_text("ang", agreeable, rng, 0.0, 0.0, 0.2) for _ in range(200)]
    masked = [text for text, kind in lines if kind == "masked"]
    assert len(masked) > 150  # 0.95 at A = +4
    for text in masked:
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert words & polite and not words & hostile, text


def test_emotion_words_are_in_glove_vocabulary():
    from paaan.features.text import WordVectors

    vocabulary = set(WordVectors.default().words)
    for slot, words in sentences.SLOTS.items():
        missing = [w for w in words if w not in vocabulary]
        assert not missing, f"{slot}: {missing}"


# ------------------------------------------------------------------------------------------------------
# Sizes and counts (planned without audio)


def test_iemocap_scale_plans_iemocap_counts():
    utterances = plan_utterances(get_profile("iemocap-scale"), seed=0)
    counts = Counter(u.label for u in utterances)
    assert len(utterances) == 10039
    assert dict(counts) == {"ang": 1103, "hap": 595, "exc": 1041, "neu": 1708, "sad": 1084,
                            "fru": 1849, "sur": 107, "fea": 40, "dis": 2, "oth": 3, "xxx": 2507}
    assert counts["hap"] + counts["exc"] == 1636
    assert sum(counts[c] for c in ("ang", "hap", "exc", "neu", "sad")) == 5531
    assert len({u.id for u in utterances}) == 10039
    assert {u.speaker for u in utterances} == {f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"}
    assert all(u.speaker == f"Ses0{u.session}{u.id.rsplit('_', 1)[1][0]}" for u in utterances)
    assert all(u.dialog.startswith(f"Ses0{u.session}") and u.id.startswith(u.dialog + "_") for u in utterances)
    profile = get_profile("iemocap-scale")
    assert (profile.sspnet_clips, profile.sspnet_speakers, profile.raters) == (640, 322, 11)
    owners = plan.clip_speakers(0, 640, 322)
    assert len(owners) == 640 and set(owners) == set(range(322))


def test_demo_and_tiny_sizes():
    demo = get_profile("demo")
    assert demo.four_class == 600  # ~60 four-class utterances per speaker
    per_speaker = plan.per_speaker_counts(demo, seed=0)
    four = [sum(c[x] for x in ("ang", "hap", "exc", "neu", "sad")) for c in per_speaker.values()]
    assert len(four) == 10 and min(four) >= 58 and max(four) <= 62
    assert 100 <= demo.sspnet_clips <= 160 and 60 <= demo.sspnet_speakers <= 80
    tiny = get_profile("tiny")
    assert tiny.four_class == 60 and tiny.sspnet_clips == 20
    for counts in plan.per_speaker_counts(tiny, seed=3).values():  # every speaker has every 4-class emotion
        assert counts["ang"] and counts["neu"] and counts["sad"] and counts["hap"] + counts["exc"]


def test_largest_remainder_by_hand():
    assert plan.largest_remainder(10, np.array([1, 1, 1])).tolist() == [4, 3, 3]
    # 3.5, 1.75, 1.75: floors 3, 1, 1 and the two spare units to the larger remainders (0.75, 0.75)
    assert plan.largest_remainder(7, np.array([0.5, 0.25, 0.25])).tolist() == [3, 2, 2]
    assert plan.scaled_label_counts(5531) == plan.IEMOCAP_LABEL_COUNTS
    assert plan.scaled_label_counts(400)["dis"] == 1  # rare codes keep one utterance


# ------------------------------------------------------------------------------------------------------
# The text formats against the spec's own examples


def test_formats_reproduce_the_spec_examples():
    assert formats.label_line(6.2901, 8.2357, "Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5)) == (
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]")
    assert formats.categorical_rater_line("E2", "Neutral") == "C-E2:\tNeutral;\t()"
    assert formats.attribute_rater_line("E3", 3, 2, 2) == "A-E3:\tval 3; act 2; dom  2;\t()"
    assert formats.transcript_line("Ses01F_impro01_F000", 6.2901, 8.2357, "Excuse me.") == (
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.")
    rows = [(0, 11, -51383, "<s>"), (12, 44, -160458, "EXCUSE"), (45, 76, -218339, "ME"), (77, 195, -106474, "</s>")]
    assert formats.wdseg_lines(rows) == [
        " SFrm  EFrm    SegAScr Word",
        "    0    11    -51383 <s>",
        "   12    44   -160458 EXCUSE",
        "   45    76   -218339 ME",
        "   77   195   -106474 </s>",
        " Total score:    -536654",
    ]
    assert formats.seconds_to_frame(0.125) == 12 and formats.seconds_to_frame(0.12) == 12
    assert formats.alignment_word("forms?") == "FORMS"
    csv = formats.rater_csv([("0001", (1, -2, 0, 4, -4))], ("O", "C", "E", "A", "N"))
    assert csv == "clip,O,C,E,A,N\n0001,1,-2,0,4,-4\n"


def test_level_helpers_by_hand():
    assert synth.db_to_gain(-6.0206) == pytest.approx(0.5, abs=1e-5)
    assert synth.rms(np.array([3.0, -4.0, 0.0, 0.0])) == pytest.approx(2.5)  # sqrt((9 + 16) / 4)
    s = synth.prosody_settings(np.zeros(len(expression.CONTROLS)))
    assert (s.rate, s.pitch, s.pitch_range, s.gain_db) == (170, 50, 50, 0.0)  # espeak's own voice at 0


# ------------------------------------------------------------------------------------------------------
# The output folder


def test_refuses_a_folder_that_is_not_a_demo_corpus(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CorpusError, match="not a demo corpus"):
        generate_demo_corpus(tmp_path, profile="tiny")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    (tmp_path / "ground_truth.json").write_text('{"generator": "someone else"}')
    with pytest.raises(CorpusError):
        generate_demo_corpus(tmp_path, profile="tiny")


def test_unfinished_corpus_is_not_complete_and_is_replaced(tiny, tmp_path):
    # an interrupted run leaves a marked .partial-* folder and no ground_truth.json
    out = tmp_path / "corpus"
    (out / ".partial-dead" / "IEMOCAP_full_release").mkdir(parents=True)
    (out / ".partial-dead" / "PARTIAL_DEMO_CORPUS").write_text("unfinished")
    assert not is_demo_corpus(out)
    generate_demo_corpus(out, seed=0, profile="tiny")
    assert is_demo_corpus(out) and not list(out.glob(".partial-*"))
    assert _digest(out) == _digest(tiny)


def test_asides_are_a_habit_on_one_side_of_extraversion_and_a_cue_on_the_other():
    from paaan.demo.expression import aside_probabilities

    extravert, introvert = {"extraversion": 3.0}, {"extraversion": -3.0}
    # e = 0.75: habit 0.8 * 0.75 = 0.6 in every emotion; the other aside only as a cue, 0.8 * 0.75 = 0.6
    assert aside_probabilities("neu", extravert, 0.8, 0.8) == pytest.approx((0.6, 0.0))
    assert aside_probabilities("sad", extravert, 0.8, 0.8) == pytest.approx((0.6, 0.6))
    assert aside_probabilities("neu", introvert, 0.8, 0.8) == pytest.approx((0.0, 0.6))
    assert aside_probabilities("exc", introvert, 0.8, 0.8) == pytest.approx((0.6, 0.6))
    assert aside_probabilities("ang", {"extraversion": 0.0}, 0.8, 0.8) == (0.0, 0.0)


def test_asides_reach_the_transcript_and_the_alignment(tiny_corpus):
    from paaan.data import load_iemocap
    from paaan.demo.sentences import BURST_PHRASES, with_asides

    assert with_asides("I am tired.", "Oh man", "I guess") == "Oh man, I am tired, I guess."
    assert with_asides("What now?", "Wow", None) == "Wow, what now?"
    table = load_iemocap(tiny_corpus / "IEMOCAP_full_release")
    bursts = table[table["transcript"].str.startswith(tuple(p + "," for p in BURST_PHRASES))]
    bursts = bursts[bursts["align_words"].notna()]
    assert len(bursts) > 0
    row = bursts.iloc[0]
    first = row["transcript"].split(",")[0].replace(" ", "").upper()
    assert "".join(row["align_words"][: len(row["transcript"].split(",")[0].split())]) == first
