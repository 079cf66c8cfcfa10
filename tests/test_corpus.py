"""Other emotion corpora (the paper's future work): an emotion corpus is one object of either layout, a study reads
it (or two of them, for the cross-corpus protocol) as it reads IEMOCAP, and cross-corpus folds never train on
the corpus they test on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from corpus_fixtures import write_iemocap, write_sspnet
from emobox_fixtures import NAME, write_emobox
from experiments.cache import fingerprint_files
from paaan.data.corpus import EmotionCorpus, combine, emotion_corpus, parse_spec
from paaan.data.folds import describe_protocol, make_folds, corpus_tested
from paaan.errors import CorpusError


# --------------------------------------------------------------------------------------------------------------
# the emotion corpus as an object


@pytest.mark.parametrize("spec, expected", [
    ("emobox:/data/EmoBox/data/cremad", ("emobox", "/data/EmoBox/data/cremad")),
    ("iemocap:/data/IEMOCAP_full_release", ("iemocap", "/data/IEMOCAP_full_release")),
    ("/data/IEMOCAP_full_release", ("iemocap", "/data/IEMOCAP_full_release")),  # a bare root is IEMOCAP's
    ("emobox:demo", ("emobox", "demo")),
    ("demo", ("iemocap", "demo")),
    ("C:/corpora/x", ("iemocap", "C:/corpora/x")),  # not a layout: the whole spec is the path
])
def test_a_spec_names_the_layout_and_the_folder(spec, expected):
    assert parse_spec(spec) == expected


def test_an_emobox_corpus_takes_its_folders_transcripts_csv_unless_given(tmp_path):
    paths = write_emobox(tmp_path)
    bare = emotion_corpus("emobox", paths["folder"], paths["wav_root"])
    assert bare.transcripts is None and not bare.has_text and bare.name == NAME
    (paths["folder"] / "transcripts.csv").write_text(paths["transcripts"].read_text())
    found = emotion_corpus("emobox", paths["folder"], paths["wav_root"])
    assert found.transcripts == paths["folder"] / "transcripts.csv" and found.has_text
    given = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"])
    assert given.transcripts == paths["transcripts"].resolve()
    assert EmotionCorpus("iemocap", tmp_path).has_text and EmotionCorpus("iemocap", tmp_path).name == "iemocap"


def test_a_missing_folder_or_transcripts_file_is_an_error_naming_it(tmp_path):
    paths = write_emobox(tmp_path)
    with pytest.raises(CorpusError, match=r"nowhere: emobox corpus folder does not exist"):
        emotion_corpus("emobox", tmp_path / "nowhere")
    with pytest.raises(CorpusError, match=r"texts\.csv: transcripts CSV not found"):
        emotion_corpus("emobox", paths["folder"], transcripts=tmp_path / "texts.csv")
    with pytest.raises(ValueError, match="unknown corpus layout 'msp'"):
        EmotionCorpus("msp", tmp_path)


def test_loading_adds_the_corpus_name_to_every_row(tmp_path):
    paths = write_emobox(tmp_path / "emobox")
    table, report = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"]).load()
    assert set(table["corpus"]) == {NAME} and len(table) == 9 and report.kept == 9
    iemocap, _ = EmotionCorpus("iemocap", write_iemocap(tmp_path / "IEMOCAP_full_release")).load()
    assert set(iemocap["corpus"]) == {"iemocap"} and len(iemocap) == 25


def test_the_fingerprint_holds_wavs_outside_the_folder_and_the_transcripts(tmp_path):
    paths = write_emobox(tmp_path)
    corpus = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"])
    files = corpus.files()
    assert paths["transcripts"].resolve() in files and paths["absolute_wav"] in files
    before = fingerprint_files(corpus.root, files)
    assert before["files"] == 6 + 9 + 1  # metadata (jsonl, stm, label map, 3 fold files), 9 kept wavs, the CSV
    paths["absolute_wav"].write_bytes(paths["absolute_wav"].read_bytes() + b"\0\0")
    assert fingerprint_files(corpus.root, corpus.files())["hash"] != before["hash"]


def test_two_corpora_sharing_a_speaker_or_a_name_are_refused():
    a = pd.DataFrame({"utterance_id": ["a1", "a2"], "speaker": ["s1", "s2"], "corpus": "one"})
    b = pd.DataFrame({"utterance_id": ["b1"], "speaker": ["s2"], "corpus": "two"})
    with pytest.raises(ValueError, match="speaker 's2' is in both one and two"):
        combine([a, b])
    with pytest.raises(ValueError, match="two emotion corpora named 'one'"):
        combine([a, b.assign(speaker="s9", corpus="one")])
    both = combine([b.assign(speaker="s9"), a])
    assert list(both["utterance_id"]) == ["a1", "a2", "b1"] and list(both["corpus"]) == ["one", "one", "two"]


# --------------------------------------------------------------------------------------------------------------
# the cross-corpus protocol


def two_corpora(test_sessions: bool = True) -> pd.DataFrame:
    """"train" (IEMOCAP-like: 5 sessions x 2 speakers x 2 utterances) and "test" (10 speakers x 1 utterance, two
    per session 1..5, or no sessions at all: an EmoBox corpus without fold files), shuffled together."""
    rows = [{"utterance_id": f"t{s}{g}{u}", "speaker": f"Ses0{s}{g}", "session": s, "corpus": "train"}
            for s in range(1, 6) for g in "FM" for u in range(2)]
    rows += [{"utterance_id": f"x{n:02d}", "speaker": f"{1001 + n}", "session": (n // 2 + 1) if test_sessions else 0,
              "corpus": "test"} for n in range(10)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_cross_corpus_never_trains_or_validates_on_the_test_corpus():
    table = two_corpora()
    folds = make_folds(table, "cross-corpus:test")
    assert len(folds) == 5
    corpus, speakers = table["corpus"].to_numpy(), table["speaker"].to_numpy()
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == sorted(np.flatnonzero(corpus == "test").tolist())  # every test row, once
    for number, fold in enumerate(folds, start=1):
        assert set(corpus[fold.train]) == set(corpus[fold.validation]) == {"train"}
        assert set(corpus[fold.test]) == {"test"}
        assert set(table["session"].to_numpy()[fold.test]) == {number}  # the test corpus' own session f
        assert fold.validation_sessions == (number,)  # the training corpus' group f validates
        assert len(fold.train) == 16 and len(fold.validation) == 4 and len(fold.test) == 2  # 4/5 of 20 train
        assert not set(speakers[fold.validation]) & set(speakers[fold.train])
        assert fold.name == f"train -> test group {number}"


def test_a_test_corpus_without_sessions_is_split_by_sorted_speakers():
    folds = make_folds(two_corpora(test_sessions=False), "cross-corpus:test")
    assert [f.test_speakers for f in folds] == [("1001", "1002"), ("1003", "1004"), ("1005", "1006"),
                                                ("1007", "1008"), ("1009", "1010")]


def test_the_protocol_names_its_test_corpus_and_says_what_the_ci_is_over():
    assert corpus_tested("cross-corpus:acted_demo") == "acted_demo" and corpus_tested("session") is None
    assert "tested on acted_demo" in describe_protocol("cross-corpus:acted_demo")
    assert "test speakers" in describe_protocol("cross-corpus:acted_demo")


def test_a_table_of_two_corpora_is_split_only_cross_corpus():
    table = two_corpora()
    with pytest.raises(ValueError, match=r"holds 2 emotion corpora \(test, train\): only the cross-corpus"):
        make_folds(table, "session")
    with pytest.raises(ValueError, match="test corpus 'other' is not in the table"):
        make_folds(table, "cross-corpus:other")
    with pytest.raises(ValueError, match="needs its test corpus"):
        make_folds(table, "cross-corpus")
    with pytest.raises(ValueError, match="a table of two corpora"):
        make_folds(table.drop(columns="corpus"), "cross-corpus:test")
    with pytest.raises(ValueError, match="trains on one corpus besides 'test'; the table has none"):
        make_folds(table[table["corpus"] == "test"], "cross-corpus:test")


# --------------------------------------------------------------------------------------------------------------
# a study of it: featurize, the variants it can run, the command line


def test_featurize_reads_two_corpora_of_two_layouts_into_one_store(tmp_path):
    from paaan.features.pipeline import featurize
    from paaan.features.store import FeatureStore

    iemocap = EmotionCorpus("iemocap", write_iemocap(tmp_path / "IEMOCAP_full_release"))
    paths = write_emobox(tmp_path / "emobox")
    emobox = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"])
    write_sspnet(tmp_path / "SSPNet")
    summary = featurize([iemocap, emobox], tmp_path / "SSPNet", tmp_path / "store", workers=1, progress=False)
    store = FeatureStore(tmp_path / "store")
    table = store.utterances
    assert summary["emotion_corpora"] == {NAME: 9, "iemocap": 25}
    assert table["corpus"].value_counts().to_dict() == {"iemocap": 25, NAME: 9}
    assert list(table["utterance_id"]) == sorted(table["utterance_id"])
    # wav paths relative to each corpus' root (the EmoBox checkout for its relative paths; a file name outside)
    emobox_rows = table[table["corpus"] == NAME].set_index("utterance_id")["wav_path"]
    assert emobox_rows["crema-d-1001_DFA_ANG_XX"] == f"downloads/{NAME}/AudioWAV/1001_DFA_ANG_XX.wav"
    assert emobox_rows["crema-d-1002_DFA_ANG_XX"] == "1002_DFA_ANG_XX.wav"
    assert not any(Path(p).is_absolute() for p in table["wav_path"])
    folds = make_folds(table, f"cross-corpus:{NAME}")  # four EmoBox speakers: four folds, one speaker each
    assert [f.test_speakers for f in folds] == [("1001",), ("1002",), ("1003",), ("1004",)]
    assert all(set(table["corpus"].iloc[f.train]) == {"iemocap"} for f in folds)


def _corpora(tmp_path, transcripts: bool, truth: Path | None = None):
    from experiments.corpora import Corpora

    paths = write_emobox(tmp_path)
    corpus = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"] if transcripts else None)
    return Corpora(corpus, tmp_path / "SSPNet", truth, demo=False)


def test_without_transcripts_only_the_audio_variants_run_and_named_text_variants_are_refused(tmp_path, capsys):
    from experiments.ablation import choose_variants

    corpora = _corpora(tmp_path, transcripts=False)
    assert [v.name for v in choose_variants("table1", corpora)] == ["Audio"]
    note = capsys.readouterr().out
    assert "Text, A+T, Prev1, Prev2, IA+T, P-D, P-T, PAaAN_NA, PAaAN_PP skipped (no transcripts for crema-d" in note
    with pytest.raises(ValueError, match=r"A\+T, PAaAN_PP read transcripts; .*crema-d has none \(no transcripts CSV: "
                                         r"give --transcripts utterance_id,transcript, or .*crema-d/transcripts\.csv\)"):
        choose_variants("Audio,A+T,PAaAN_PP", corpora)
    with_text = _corpora(tmp_path / "b", transcripts=True)
    assert "PAaAN_PP" in [v.name for v in choose_variants("table1", with_text)]


@pytest.mark.parametrize("args, message", [
    (["--protocol", "cross-corpus"], "--protocol cross-corpus needs --test-corpus"),
    (["--test-corpus", "emobox:demo"], "--test-corpus is read by --protocol cross-corpus only"),
    (["--protocol", "cross-corpus", "--test-corpus", "demo", "--folds-file", "f.csv"], "does not read a fold file"),
    (["--emotion-corpus", "emobox:demo", "--iemocap-root", "/x", "--sspnet-root", "/y"],
     "give --iemocap-root or --emotion-corpus, not both"),
    (["--emotion-corpus", "emobox:demo", "--sspnet-root", "/y"], "the demo corpora bring their own SSPNet"),
])
def test_the_command_line_refuses_a_protocol_and_corpora_that_do_not_fit(args, message, tmp_path, monkeypatch):
    from experiments.cli import main

    monkeypatch.setenv("PAAAN_DATA", str(tmp_path))  # nothing may be generated: every case fails before
    result = CliRunner().invoke(main, ["ablation", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not any(tmp_path.iterdir()) or sorted(p.name for p in tmp_path.iterdir()) == ["m.db"]


def test_the_testbed_refuses_the_cross_corpus_protocol(tmp_path):
    from experiments.cli import main

    result = CliRunner().invoke(main, ["testbed", "--protocol", "cross-corpus"])
    assert result.exit_code == 2 and "the testbed studies each scenario's own corpus" in result.output


def test_an_own_emobox_corpus_needs_sspnet_and_a_test_corpus_is_another_corpus(tmp_path):
    from experiments.corpora import resolve_corpora

    paths = write_emobox(tmp_path)
    spec = f"emobox:{paths['folder']}"
    with pytest.raises(ValueError, match="give --sspnet-root with your own emotion corpus"):
        resolve_corpora(emotion_corpus=spec, wav_root=str(paths["wav_root"]))
    write_sspnet(tmp_path / "SSPNet")
    corpora = resolve_corpora(emotion_corpus=spec, wav_root=str(paths["wav_root"]), sspnet_root=str(tmp_path / "SSPNet"))
    assert corpora.emotion.name == NAME and corpora.test is None and not corpora.demo and corpora.ground_truth is None
    assert not corpora.has_text  # no transcripts.csv in the folder, none given
    with pytest.raises(ValueError, match="the test corpus is the emotion corpus"):
        resolve_corpora(emotion_corpus=spec, wav_root=str(paths["wav_root"]), sspnet_root=str(tmp_path / "SSPNet"),
                        test_corpus=spec, test_wav_root=str(paths["wav_root"]))


def test_two_demo_corpora_are_read_with_both_ground_truths(tmp_path, monkeypatch):
    from experiments.corpora import merged_ground_truth
    from paaan.personality import true_profiles

    monkeypatch.setenv("PAAAN_DATA", str(tmp_path / "data"))

    def truth(path: Path, speakers: dict) -> Path:
        path.write_text(json.dumps({"scenario": {"name": "input_flip"}, "iemocap": {
            "speakers": {s: {"traits": dict.fromkeys(("openness", "conscientiousness", "extraversion",
                                                      "agreeableness", "neuroticism"), v)} for s, v in speakers.items()},
            "utterance_segments": {}}}))
        return path

    a = truth(tmp_path / "a.json", {"Ses01F": 1.0, "Ses01M": -1.0})
    b = truth(tmp_path / "b.json", {"1001": 2.0})
    merged = merged_ground_truth(a, b)
    assert merged.parent.parent == (tmp_path / "data").resolve()
    profiles = true_profiles(merged)
    assert list(profiles.index) == ["1001", "Ses01F", "Ses01M"] and profiles.loc["1001", "extraversion"] == 2.0
    assert merged_ground_truth(a, b) == merged  # written once, named by the two files' content
    with pytest.raises(ValueError, match=r"share speakers \(\['Ses01F'\]\)"):
        merged_ground_truth(a, truth(tmp_path / "c.json", {"Ses01F": 0.5}))


def test_models_of_another_corpus_are_registered_under_its_name():
    from registry.register import model_name

    assert model_name("A+T") == "paaan-A_T"
    assert model_name("A+T", corpus="acted_demo") == "paaan-acted_demo-A_T"
    assert model_name("IA+T+", "dimensional", "acted_demo") == "paaan-acted_demo-dimensional-IA_Tplus"


@pytest.mark.slow
def test_mlflow_run_of_a_cross_corpus_ablation_from_the_acted_demo_to_the_iemocap_demo(tmp_path):
    """`mlflow run . -e ablation -P emotion_corpus=emobox:demo -P protocol=cross-corpus -P test_corpus=demo` on the
    tiny demo corpora: trained on the acted corpus (EmoBox's layout), tested on the IEMOCAP-layout one, with the
    oracle fed both corpora's true traits; Table I says so, every trial's test rows are the other corpus', and
    nothing is registered."""
    import subprocess

    from mlflow.tracking import MlflowClient

    from reliability.reliability_tools import REPO, all_runs, child_env

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        ["mlflow", "run", str(REPO), "-e", "ablation", "--env-manager", "local", "--experiment-name", "paaan",
         "-P", "emotion_corpus=emobox:demo", "-P", "protocol=cross-corpus", "-P", "test_corpus=demo",
         "-P", "demo_profile=tiny", "-P", "variants=Audio,A+T,PAaAN_oracle", "-P", "k_tuning=off"],
        cwd=tmp_path, env=child_env(tmp_path, uri),
        capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Cross-corpus: trained on the other emotion corpus, tested on iemocap" in done.stdout
    runs = all_runs(uri)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trials = [r for r in runs if r.data.tags.get("paaan.step") == "trial" and r.info.status == "FINISHED"]
    assert len(trials) == 3 * 5  # no model of every utterance: a cross-corpus ablation registers none
    assert MlflowClient(uri).search_registered_models() == []
    parent = next(r for r in runs if r.data.tags.get("paaan.step") == "ablation")
    assert parent.data.params["protocol.resolved"] == "cross-corpus:iemocap"
    assert parent.data.params["emotion_corpus.resolved"].startswith("emobox:")
    table = Path(MlflowClient(uri).download_artifacts(parent.info.run_id, "table1.md", str(tmp_path))).read_text()
    assert "**Folds.** Cross-corpus" in table and "PAaAN_oracle" in table
    inputs = {(d.dataset.name, d.tags[0].value) for d in trials[0].inputs.dataset_inputs}
    assert ("acted_demo", "training") in inputs
    assert any(name.startswith("iemocap: test acted_demo -> iemocap group") and context == "evaluation"
               for name, context in inputs)


@pytest.mark.parametrize("breaks, where", [
    (lambda p: (p["wav_root"] / f"downloads/{NAME}/AudioWAV/1001_IEO_NEU_XX.wav").unlink(),
     rf"{NAME}\.jsonl:3: missing_wav: crema-d-1001_IEO_NEU_XX"),
    (lambda p: (p["folder"] / "data.seg.wrd.stm").write_text(
        "\n".join(line for line in (p["folder"] / "data.seg.wrd.stm").read_text().splitlines()
                  if not line.startswith("crema-d-1003_DFA_HAP_XX")) + "\n"),
     rf"{NAME}\.jsonl:9: key crema-d-1003_DFA_HAP_XX has no line in .*data\.seg\.wrd\.stm"),
    (lambda p: (p["folder"] / "fold_1" / f"{NAME}_test_fold_1.jsonl").write_text(
        (p["folder"] / "fold_1" / f"{NAME}_test_fold_1.jsonl").read_text()
        + '{"key": "crema-d-9999_X", "wav": "x.wav", "emo": "ANG"}\n'),
     rf"{NAME}_test_fold_1\.jsonl:6: fold file names key 'crema-d-9999_X'"),
])
def test_a_broken_emobox_corpus_fails_featurize_naming_file_and_line_and_leaves_nothing(breaks, where, tmp_path,
                                                                                        tracking):
    from mlflow.tracking import MlflowClient

    from experiments.corpora import Corpora
    from experiments.featurize import run_featurize
    from paaan.config import FeatureConfig

    paths = write_emobox(tmp_path / "corpus")
    write_sspnet(tmp_path / "SSPNet")
    breaks(paths)
    corpus = emotion_corpus("emobox", paths["folder"], paths["wav_root"], paths["transcripts"])
    with pytest.raises(CorpusError, match=where):
        run_featurize(Corpora(corpus, tmp_path / "SSPNet", None, demo=False), FeatureConfig(), workers=1,
                      progress=False)
    runs = MlflowClient().search_runs([tracking])  # the corpus is read for its fingerprint, before any run opens
    assert all(r.info.status == "FAILED" for r in runs)  # none RUNNING, none FINISHED: no store to reuse
    assert not list(tmp_path.rglob("manifest.json"))


def test_the_acted_demo_is_generated_once_and_again_when_its_knobs_change(tmp_path, monkeypatch, capsys):
    from experiments.corpora import resolve_corpora
    from paaan.demo.emobox import emobox_demo_matches

    monkeypatch.setenv("PAAAN_DATA", str(tmp_path))
    corpora = resolve_corpora(emotion_corpus="emobox:demo", demo_profile="tiny", workers=2, progress=False)
    assert "generating the acted demo corpus" in capsys.readouterr().out
    root = corpora.emotion.root.parent
    assert root.name == "acted-tiny-seed0-input_flip" and corpora.emotion.name == "acted_demo"
    assert corpora.emotion.has_text and corpora.demo and corpora.scenario == "input_flip"
    assert corpora.sspnet == root / "SSPNet" and corpora.ground_truth == root / "ground_truth.json"
    assert emobox_demo_matches(root, 0, "tiny", "input_flip", 20)
    assert not emobox_demo_matches(root, 0, "tiny", "none", 20) and not emobox_demo_matches(root, 1, "tiny",
                                                                                           "input_flip", 20)
    again = resolve_corpora(emotion_corpus="emobox:demo", demo_profile="tiny", progress=False)
    assert again == corpora and "generating" not in capsys.readouterr().out
    truth = json.loads(corpora.ground_truth.read_text())
    truth["version"] = "0"  # an older writer's corpus is stale
    corpora.ground_truth.write_text(json.dumps(truth))
    resolve_corpora(emotion_corpus="emobox:demo", demo_profile="tiny", workers=2, progress=False)
    assert "generating the acted demo corpus" in capsys.readouterr().out
