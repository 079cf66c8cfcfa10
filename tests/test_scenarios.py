"""The demo corpus' planted-effect scenarios (paaan.demo.scenarios): the table's invariants, and what each
scenario plants in a generated tiny corpus (its ground_truth.json, transcripts and wavs)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from paaan.data import load_iemocap
from paaan.data.iemocap import LABEL_MAP
from paaan.data.schema import EMOTIONS
from paaan.demo import SCENARIOS, Claim, Scenario, generate_demo_corpus, get_scenario, matches
from paaan.demo import expression, plan, scenarios, sentences


def _generate(tmp_path_factory, name: str) -> Path:
    return generate_demo_corpus(tmp_path_factory.mktemp(name) / "tiny", seed=0, profile="tiny", scenario=name)


@pytest.fixture(scope="session")
def none_corpus(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def segment_corpus(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory, "segment_gate")


@pytest.fixture(scope="session")
def modality_corpus(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory, "modality_gate")


def _truth(root: Path) -> dict:
    return json.loads((root / "ground_truth.json").read_text())


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _four_class_labels() -> dict[str, str]:
    """Utterance id -> 4-class emotion (exc -> hap) of the tiny plan, seed 0."""
    return {u.id: LABEL_MAP[u.label] for u in plan.plan_utterances(plan.get_profile("tiny"), seed=0)
            if u.label in LABEL_MAP}


# ------------------------------------------------------------------------------------------------------
# The table


def test_every_row_has_a_unique_name_and_slug_and_well_formed_claims():
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
    assert len({s.slug for s in SCENARIOS}) == len(SCENARIOS)
    assert {"input_flip", "none", "segment_gate", "segment_gate_75", "modality_gate"} <= set(scenarios.BY_NAME)
    for s in SCENARIOS:
        assert s.claims and s.description
        for claim in s.claims:
            assert claim.expect in ("greater", "equivalent") and claim.why
            metric = "" if claim.metric == "uar" else f" on {claim.metric}"  # the dimensional claims name their CCC
            assert claim.text == f"{claim.a} > {claim.b}{metric}"
        assert json.loads(json.dumps(s.as_dict())) == s.as_dict()  # goes into ground_truth.json as it is


def test_knobs_are_every_field_but_name_description_and_claims():
    fields = {f.name for f in dataclasses.fields(Scenario)} - {"name", "description", "claims", "attention_claims",
                                                                "counterfactual_claims"}
    for s in SCENARIOS:
        assert set(s.knobs()) == fields
    assert get_scenario("segment_gate_75").knobs() == {
        "style": "fixed", "anger_masking": False, "happy_words_shift": False, "asides": False,
        "gate": "segment", "carrier_share": 0.75, "traits": "paired", "valence_trait": "", "valence_slope": 0.0}


def test_slug_names_the_carrier_share_of_gate_scenarios_only():
    assert get_scenario("input_flip").slug == "input_flip"
    assert get_scenario("none").slug == "none"
    assert get_scenario("segment_gate").slug == "segment_gate-carrier_share1"
    assert get_scenario("segment_gate_75").slug == "segment_gate_75-carrier_share0.75"
    assert get_scenario("modality_gate").slug == "modality_gate-carrier_share1"


def test_rows_plant_what_they_say():
    flip = get_scenario("input_flip")
    assert (flip.style, flip.anger_masking, flip.happy_words_shift, flip.asides, flip.gate) == (
        "extraversion", True, True, True, "none")
    for name in ("none", "segment_gate", "segment_gate_75", "modality_gate"):
        s = get_scenario(name)
        assert (s.style, s.anger_masking, s.happy_words_shift, s.asides) == ("fixed", False, False, False), name
    assert [(get_scenario(n).gate, get_scenario(n).carrier_share)
            for n in ("none", "segment_gate", "segment_gate_75", "modality_gate")] == [
        ("none", 1.0), ("segment", 1.0), ("segment", 0.75), ("modality", 1.0)]


def test_claims_of_each_row():
    def claims(name):
        return {(c.text, c.expect) for c in get_scenario(name).claims}

    assert claims("input_flip") == {("P-T_oracle > IA+T", "greater"), ("PAaAN_oracle > IA+T", "equivalent"),
                                    ("PAaAN+_oracle > IA+T+", "equivalent")}
    assert {e for _, e in claims("none")} == {"equivalent"} and len(claims("none")) == 7
    assert claims("segment_gate") == {
        ("PAaAN+_oracle > IA+T+", "greater"), ("PAaAN_oracle > IA+T", "greater"),
        ("PAaAN+_shuffled > IA+T+", "equivalent"), ("P-T_oracle > IA+T", "greater"),
        ("P-D_oracle > IA+T", "greater"), ("PAaAN+_PP > IA+T+", "greater")}
    assert claims("segment_gate_75") == {("PAaAN+_oracle > IA+T+", "greater"),
                                         ("PAaAN+_shuffled > IA+T+", "equivalent")}
    assert claims("modality_gate") == {("PAaAN_oracle > IA+T", "equivalent"),
                                       ("PAaAN+_oracle > IA+T+", "equivalent"), ("P-D_oracle > IA+T", "equivalent")}
    # the segment gates also ask where attention goes (against the baseline's) and whether the prediction
    # follows the personality handed to it (against the shuffled control)
    gate = get_scenario("segment_gate")
    assert {(c.measure, c.sign) for c in gate.attention_claims} == {("carrier", "+"), ("carrier", "-"), ("contrast", None)}
    assert {c.baseline for c in gate.attention_claims} == {"IA+T+"}
    assert {c.variant for c in gate.counterfactual_claims} == {"PAaAN+_oracle", "PAaAN_oracle", "P-T_oracle",
                                                                "P-D_oracle", "PAaAN+_PP"}
    assert {c.control for c in gate.counterfactual_claims} == {"PAaAN+_shuffled"}
    assert [c.variant for c in get_scenario("segment_gate_75").counterfactual_claims] == ["PAaAN+_oracle"]


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ValueError) as err:
        get_scenario("nope")
    assert "nope" in str(err.value)
    assert all(s.name in str(err.value) for s in SCENARIOS)
    with pytest.raises(ValueError, match="known: input_flip"):
        generate_demo_corpus("/nonexistent/never-written", profile="tiny", scenario="nope")


@pytest.mark.parametrize("share", [0.49, 1.01, -1.0, 2.0, float("nan"), True, "0.75"])
def test_carrier_share_outside_half_to_one_is_refused(share):
    with pytest.raises(ValueError, match="carrier_share"):
        dataclasses.replace(get_scenario("segment_gate"), carrier_share=share)


def test_inconsistent_knobs_are_refused():
    with pytest.raises(ValueError, match="without a gate"):
        dataclasses.replace(get_scenario("none"), carrier_share=0.75)
    with pytest.raises(ValueError, match="turn off asides"):
        dataclasses.replace(get_scenario("segment_gate"), asides=True)
    with pytest.raises(ValueError, match="style"):
        dataclasses.replace(get_scenario("none"), style="introvert")
    with pytest.raises(ValueError, match="gate"):
        dataclasses.replace(get_scenario("none"), gate="word")
    with pytest.raises(ValueError, match="expect"):
        Claim("PAaAN_oracle", "IA+T", "less", "a typo")
    # the boundaries are allowed: a null gate and a deterministic one
    assert dataclasses.replace(get_scenario("segment_gate"), name="segment_gate_50", carrier_share=0.5).slug == (
        "segment_gate_50-carrier_share0.5")


# ------------------------------------------------------------------------------------------------------
# The knobs in the planted model (pure functions)


def test_in_the_null_scenario_no_expression_knob_depends_on_a_trait():
    s = get_scenario("none")
    extravert = {"extraversion": 3.5, "agreeableness": 3.5}
    introvert = {"extraversion": -3.5, "agreeableness": -3.5}
    for label in (*EMOTIONS, "exc", "fru"):
        assert np.array_equal(expression.emotion_cues(label, extravert, s.style),
                              expression.emotion_cues(label, introvert, s.style)), label
    assert np.array_equal(expression.emotion_cues("ang", introvert, s.style), expression.EXTRAVERT_STYLE["ang"])
    assert expression.expression_shift(extravert, s.style) == expression.expression_shift(introvert, s.style) == 0.0
    assert expression.anger_masking_probability(extravert, s.anger_masking) == 0.0
    assert expression.happy_plain_words_probability(introvert, 0.2, s.happy_words_shift) == 0.2
    # with masking off even the most agreeable speaker never words anger politely
    rng = np.random.default_rng(0)
    kinds = {sentences.utterance_text("ang", {"agreeableness": 4.0, "extraversion": 0.0}, rng, 0.0, 0.0, 0.2,
                                      anger_masking=False)[1] for _ in range(200)}
    assert kinds == {"cue"}


def test_a_gate_follows_the_sign_of_extraversion_at_carrier_share_one():
    rng = np.random.default_rng(1)
    assert {expression.carrier_segment({"extraversion": 2.5}, 1.0, rng) for _ in range(200)} == {0}
    assert {expression.carrier_segment({"extraversion": -2.5}, 1.0, rng) for _ in range(200)} == {1}
    assert {expression.carrier_modality({"extraversion": 2.5}, 1.0, rng) for _ in range(200)} == {"audio"}
    assert {expression.carrier_modality({"extraversion": -2.5}, 1.0, rng) for _ in range(200)} == {"text"}
    with pytest.raises(ValueError, match="E = 0"):
        expression.carrier_segment({"extraversion": 0.0}, 1.0, rng)


def test_at_carrier_share_three_quarters_three_carriers_in_four_follow_extraversion():
    # n = 4000 Bernoulli(0.75) draws: the followed count is Binomial(4000, 0.75) with sd
    # sqrt(4000 * 0.75 * 0.25) = sqrt(750) = 27.4, i.e. 0.0068 as a share; 4 sd = 0.027 < 0.03 (a wrong share,
    # 0.7 or 0.8, lies 7 sd away)
    rng = np.random.default_rng(2)
    n = 4000
    for traits in ({"extraversion": 3.0}, {"extraversion": -3.0}):
        seg = [expression.carrier_followed(traits, expression.carrier_segment(traits, 0.75, rng)) for _ in range(n)]
        mod = [expression.carrier_followed(traits, expression.carrier_modality(traits, 0.75, rng)) for _ in range(n)]
        assert abs(np.mean(seg) - 0.75) < 0.03 and abs(np.mean(mod) - 0.75) < 0.03


def test_the_other_segment_has_another_four_class_emotion_drawn_uniformly():
    # 3000 draws over 3 emotions: each count ~ Binomial(3000, 1/3), sd sqrt(3000 * 2/9) = 25.8 (0.0086 as a
    # share); 4 sd = 0.034 < 0.04
    rng = np.random.default_rng(3)
    for emotion in (*EMOTIONS, "exc"):
        draws = [expression.other_emotion(emotion, rng) for _ in range(3000)]
        own = "hap" if emotion == "exc" else emotion
        assert set(draws) == set(EMOTIONS) - {own}
        assert all(abs(draws.count(x) / 3000 - 1 / 3) < 0.04 for x in set(draws))


# ------------------------------------------------------------------------------------------------------
# Generated corpora


def test_input_flip_is_the_default_scenario_to_the_byte(tiny_corpus, tmp_path):
    explicit = generate_demo_corpus(tmp_path / "flip", seed=0, profile="tiny", scenario="input_flip")
    assert _digest(explicit) == _digest(tiny_corpus)
    truth = _truth(tiny_corpus)
    assert truth["scenario"] == get_scenario("input_flip").as_dict()
    assert truth["iemocap"]["utterance_segments"] == {}
    assert all(s["expression_shift"] > 0 and s["carrier_follows_extraversion_share"] is None
               for s in truth["iemocap"]["speakers"].values())


def test_a_gated_corpus_is_the_same_to_the_byte_with_one_worker_or_two(segment_corpus, tmp_path):
    # the gate's own streams ("gate-plan", "gate-speech") are per utterance too: no draw depends on order
    one = _digest(generate_demo_corpus(tmp_path / "one", seed=0, profile="tiny", scenario="segment_gate", workers=1))
    two = _digest(generate_demo_corpus(tmp_path / "two", seed=0, profile="tiny", scenario="segment_gate", workers=2))
    assert len(one) > 200 and one == two == _digest(segment_corpus)


def test_the_null_corpus_records_every_effect_as_off(none_corpus):
    truth = _truth(none_corpus)
    assert truth["scenario"]["knobs"] == get_scenario("none").knobs()
    for sid, s in truth["iemocap"]["speakers"].items():
        assert s["expression_shift"] == 0.0 and s["anger_masking_probability"] == 0.0, sid
        assert s["aside_habit"] == "none"
        assert all(p == [0.0, 0.0] for p in s["aside_probabilities"].values())
        assert s["happy_plain_words_probability"] == truth["parameters"]["generator"]["plain_share"]
    kinds = set(truth["iemocap"]["utterance_text_cue"].values())
    assert not {k for k in kinds if "masked" in k or "burst" in k or "hedge" in k}, kinds


def test_segment_gate_carrier_follows_the_sign_of_extraversion_in_every_four_class_utterance(segment_corpus):
    truth = _truth(segment_corpus)
    speakers = truth["iemocap"]["speakers"]
    segments = truth["iemocap"]["utterance_segments"]
    labels = _four_class_labels()
    assert set(segments) == set(labels)  # every four-class utterance, no other
    for utt, record in segments.items():
        e = speakers[f"Ses{utt[3:5]}{utt.rsplit('_', 1)[1][0]}"]["traits"]["extraversion"]
        assert record["carrier"] == (0 if e > 0 else 1), utt
        emotions = [seg["emotion"] for seg in record["segments"]]
        assert len(emotions) == 2 and emotions[record["carrier"]] == labels[utt]
        assert emotions[1 - record["carrier"]] in set(EMOTIONS) - {labels[utt]}
    assert all(s["carrier_follows_extraversion_share"] == 1.0 for s in speakers.values())


def test_segments_lie_inside_the_wav_and_the_transcript_is_their_texts(segment_corpus):
    table = load_iemocap(segment_corpus / "IEMOCAP_full_release").set_index("utterance_id")
    segments = _truth(segment_corpus)["iemocap"]["utterance_segments"]
    assert set(table.index) == set(segments)
    for utt, record in segments.items():
        (first, second), row = record["segments"], table.loc[utt]
        assert 0.0 < first["start"] < first["end"] < second["start"] < second["end"] <= row["duration"], utt
        assert row["transcript"] == f"{first['text']} {second['text']}"
        assert min(first["end"] - first["start"], second["end"] - second["start"]) > 0.4  # each a whole sentence


def test_a_gate_leaves_the_other_utterances_as_they_were(none_corpus, segment_corpus):
    # the gate draws from streams of its own, so the non-four-class utterances are the null corpus' to the byte
    gated = set(_truth(segment_corpus)["iemocap"]["utterance_segments"])
    wavs = {p.name: p for p in none_corpus.glob("IEMOCAP_full_release/Session*/sentences/wav/*/Ses*.wav")}
    others = [name for name in wavs if name[:-4] not in gated]
    assert others
    for name in others:
        twin = next(segment_corpus.glob(f"IEMOCAP_full_release/Session*/sentences/wav/*/{name}"))
        assert twin.read_bytes() == wavs[name].read_bytes(), name


def test_modality_gate_carrier_modality_follows_extraversion(modality_corpus):
    truth = _truth(modality_corpus)
    speakers = truth["iemocap"]["speakers"]
    segments = truth["iemocap"]["utterance_segments"]
    labels = _four_class_labels()
    table = load_iemocap(modality_corpus / "IEMOCAP_full_release").set_index("utterance_id")
    assert set(segments) == set(labels)
    for utt, record in segments.items():
        e = speakers[f"Ses{utt[3:5]}{utt.rsplit('_', 1)[1][0]}"]["traits"]["extraversion"]
        carrier = record["carrier_modality"]
        assert carrier == ("audio" if e > 0 else "text"), utt
        carried, other = ("audio_emotion", "text_emotion") if carrier == "audio" else ("text_emotion", "audio_emotion")
        assert (record[carried], record[other]) == (labels[utt], "neu")
        (segment,) = record["segments"]
        assert segment["emotion"] == labels[utt] and table.loc[utt, "transcript"] == segment["text"]
        assert truth["iemocap"]["utterance_text_cue"][utt] == ("voice-only" if carrier == "audio" else "words-only")
    assert all(s["carrier_follows_extraversion_share"] == 1.0 for s in speakers.values())


def test_matches_knows_the_corpus_of_a_seed_profile_and_scenario(tiny_corpus, segment_corpus, tmp_path):
    assert matches(tiny_corpus, 0, "tiny", "input_flip")
    assert matches(tiny_corpus, 0, "tiny", get_scenario("input_flip"))
    assert not matches(tiny_corpus, 1, "tiny", "input_flip")
    assert not matches(tiny_corpus, 0, "demo", "input_flip")
    assert not matches(tiny_corpus, 0, "tiny", "none")
    assert matches(segment_corpus, 0, "tiny", "segment_gate")
    assert not matches(segment_corpus, 0, "tiny", "segment_gate_75")
    assert not matches(segment_corpus, 0, "tiny", dataclasses.replace(get_scenario("segment_gate"), carrier_share=0.9))
    assert not matches(tmp_path / "missing", 0, "tiny", "input_flip")
    stale = tmp_path / "stale"  # a corpus of the previous generator: no scenario recorded
    stale.mkdir()
    old = _truth(tiny_corpus)
    del old["scenario"]
    (stale / "ground_truth.json").write_text(json.dumps(old))
    assert not matches(stale, 0, "tiny", "input_flip")


def test_paired_traits_leave_extraversion_the_only_trait_that_tells_a_sessions_speakers_apart():
    from paaan.demo import plan
    from paaan.data.schema import TRAITS

    paired = plan.iemocap_speakers(0, 0.2, "paired")
    random = plan.iemocap_speakers(0, 0.2, "random")
    for f, m in zip(paired[0::2], paired[1::2]):
        assert f.id[:5] == m.id[:5]  # the two speakers of one session
        assert {t: f.traits[t] for t in TRAITS if t != "extraversion"} == {
            t: m.traits[t] for t in TRAITS if t != "extraversion"}
        assert f.traits["extraversion"] * m.traits["extraversion"] < 0  # opposite sides of E
    # the design changes only the traits: voices, identities and extraversion are drawn as before
    assert [(s.voice, s.identity, s.traits["extraversion"]) for s in paired] == [
        (s.voice, s.identity, s.traits["extraversion"]) for s in random]
    assert all(get_scenario(n).traits == "paired" for n in ("none", "segment_gate", "segment_gate_75", "modality_gate"))


@pytest.mark.parametrize("design, trait, scenario", [("paired_agreeableness", "agreeableness", "valence_agreeableness"),
                                                    ("paired_openness", "openness", "valence_openness")])
def test_a_paired_design_leaves_its_trait_the_only_one_that_tells_a_sessions_speakers_apart(design, trait, scenario):
    """A valence scenario plants its shift on one trait: each session pairs a speaker high and a speaker low on it
    who share every other trait, so every fold tests on both sides of it and no other trait explains it."""
    from paaan.demo import plan
    from paaan.data.schema import TRAITS

    people = plan.iemocap_speakers(0, 0.2, design)
    paired = plan.iemocap_speakers(0, 0.2, "paired")
    for f, m in zip(people[0::2], people[1::2]):
        assert {t: f.traits[t] for t in TRAITS if t != trait} == {t: m.traits[t] for t in TRAITS if t != trait}
        assert f.traits[trait] * m.traits[trait] < 0
        assert 2.0 <= abs(f.traits[trait]) <= 3.8
    assert sum(s.traits[trait] > 0 for s in people) == 5
    # voices and identities are drawn as in every design; the session's shared traits are "paired"'s
    assert [(s.voice, s.identity) for s in people] == [(s.voice, s.identity) for s in paired]
    shared = next(t for t in TRAITS if t not in (trait, "extraversion"))
    assert [s.traits[shared] for s in people] == [s.traits[shared] for s in paired]
    assert get_scenario(scenario).traits == design and get_scenario(scenario).valence_trait == trait


def _confounded_folds(speakers) -> list[int]:
    """Folds (test session f, validation f + 1) whose six training speakers all have A on E's side, or all
    on the other side: E and A cannot be told apart from them."""
    folds = []
    for f in range(1, 6):
        train = [s for s in speakers if int(s.id[4]) not in (f, f % 5 + 1)]
        if len({(s.traits["extraversion"] > 0) == (s.traits["agreeableness"] > 0) for s in train}) == 1:
            folds.append(f)
    return folds


def test_the_balanced_design_never_confounds_extraversion_with_agreeableness_in_a_fold():
    from paaan.demo import plan

    # the random design does for seed 0 (fold 5 trains on three same-sign sessions), and for half of all orders
    assert _confounded_folds(plan.iemocap_speakers(0, 0.2, "random")) == [5]
    for seed in range(20):
        random, balanced = plan.iemocap_speakers(seed, 0.2, "random"), plan.iemocap_speakers(seed, 0.2, "balanced")
        assert _confounded_folds(balanced) == [], seed
        # only which session gets which sign pattern differs: voices, identities, magnitudes stay
        assert [(s.voice, s.identity) for s in balanced] == [(s.voice, s.identity) for s in random]
        for b, r in zip(balanced, random):
            assert {t: abs(v) for t, v in b.traits.items()} == {t: abs(v) for t, v in r.traits.items()}
        if not _confounded_folds(random):
            assert [s.traits for s in balanced] == [s.traits for s in random]  # nothing to move
    assert get_scenario("input_flip").traits == "balanced"
