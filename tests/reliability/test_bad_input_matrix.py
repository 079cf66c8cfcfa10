"""Bad input: every malformed input is one row, with the exact error, counted skip or fix it must produce.

Issue 9, part 2. Corpus rows copy a hand-built corpus (tests/corpus_fixtures.py: 5 sessions x 7 labelled
utterances, 5 of them in the 4-class set, so 25 kept; 6 SSPNet clips scored by 3 raters), break one thing,
and run the featurize step into a shared MLflow store that already holds a FINISHED featurize run of the
intact corpus. Request rows send a prediction request to the registered PAaAN_PP model (``mlflow.pyfunc``).
After every row: no run is left RUNNING, the sqlite store passes its integrity check, the intact run's
feature store is byte-for-byte unchanged and is still the one the cache returns for the intact corpus, and a
row that errors leaves no finished feature store behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.file_utils import local_file_uri_to_path

from corpus_fixtures import utterance_ids, write_iemocap, write_sspnet
from paaan.errors import CorpusError, FeatureError, InputError
from reliability_tools import count_running, sqlite_integrity, tree_digest, write_glove_text

pytestmark = pytest.mark.reliability

KEPT_UTTERANCES = 25  # 5 sessions x (neu, exc->hap, hap, ang, sad); fru and xxx are skipped (label:...)
CLIPS = 6
DIALOG = "Ses01F_impro01"


# --- the corpus rows' edits ----------------------------------------------------------------------------


def iemocap(root: Path) -> Path:
    return root / "IEMOCAP_full_release"


def wav_of(root: Path, index: int = 0, session: int = 1) -> Path:
    """The wav of the index-th labelled utterance of the session (0: F000 neu, 1: M000 exc, 2: F001 hap)."""
    utt = utterance_ids(session)[index]
    return iemocap(root) / f"Session{session}" / "sentences" / "wav" / f"Ses0{session}F_impro01" / f"{utt}.wav"


def label_file(root: Path, session: int = 1) -> Path:
    return iemocap(root) / f"Session{session}" / "dialog" / "EmoEvaluation" / f"Ses0{session}F_impro01.txt"


def transcript_file(root: Path) -> Path:
    return iemocap(root) / "Session1" / "dialog" / "transcriptions" / f"{DIALOG}.txt"


def wdseg_of(root: Path, index: int = 0) -> Path:
    utt = utterance_ids(1)[index]
    return iemocap(root) / "Session1" / "sentences" / "ForcedAlignment" / DIALOG / f"{utt}.wdseg"


def rater_file(root: Path, rater: int = 2) -> Path:
    return root / "SSPNet" / "Personality_Scores" / f"Annotator_{rater:02d}.csv"


def set_score(root: Path, row: int, column: int, value: str) -> None:
    """Write ``value`` into one cell of Annotator_02.csv (row 0 is the header; column 0 the clip)."""
    path = rater_file(root)
    cells = [line.split(",") for line in path.read_text().splitlines()]
    cells[row][column] = value
    path.write_text("\n".join(",".join(line) for line in cells) + "\n")


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_glove(root: Path, lines: list[bytes]) -> dict:
    path = root / "glove.bad.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"glove": str(path)}


def vector(values: int, start: float = 0.1) -> bytes:
    return " ".join(f"{start + i / 100:.2f}" for i in range(values)).encode()


# --- the request rows' inputs --------------------------------------------------------------------------


def good_request(small_run, n: int = 3, speaker: str = "s1") -> pd.DataFrame:
    wavs = [str(w) for w in small_run.wavs[:n]]
    return pd.DataFrame({"speaker": [speaker] * n, "audio_path": wavs,
                         "transcript": ["I can't believe it!", "Okay.", "That is wonderful news."][:n]})


def with_audio(small_run, tmp: Path, make: Callable[[Path], None], name: str) -> pd.DataFrame:
    """The good request with row 1's audio replaced by a file ``make`` writes."""
    path = tmp / name
    make(path)
    request = good_request(small_run)
    request.loc[1, "audio_path"] = str(path)
    return request


# --- the matrix ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One malformed input. ``outcome`` is "error" (``expect`` = (exception type, message regex)), "skip"
    (``expect`` = (reason, end of the skipped file's path)) or "fix" (``expect`` = (fix, count))."""

    id: str
    kind: str  # "corpus": make(root, tmp) edits a copy of the corpus (may return FeatureConfig changes);
    #           "request": make(small_run, tmp) returns the request DataFrame
    make: Callable[[Any, Path], Any]
    outcome: str
    expect: tuple


ROWS = [
    # IEMOCAP audio: counted skips (the rest of the corpus is featurized), or fixes
    Row("wav-corrupt-header", "corpus", lambda r, t: write_bytes(wav_of(r), b"RIFF\x24\x00\x00\x00WAVEfmt garbage"),
        "skip", ("unreadable_wav", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-zero-bytes", "corpus", lambda r, t: write_bytes(wav_of(r), b""),
        "skip", ("unreadable_wav", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-zero-samples", "corpus", lambda r, t: sf.write(wav_of(r), np.zeros(0, np.float32), 16000),
        "skip", ("unreadable_wav", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-shorter-than-a-frame", "corpus", lambda r, t: sf.write(wav_of(r), np.zeros(500, np.float32), 16000),
        "skip", ("too short", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-nan-samples", "corpus",
        lambda r, t: sf.write(wav_of(r), np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT"),
        "skip", ("non-finite samples", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-text-file", "corpus", lambda r, t: write_bytes(wav_of(r), b"this is a transcript, not audio\n"),
        "skip", ("unreadable_wav", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-missing", "corpus", lambda r, t: wav_of(r).unlink(),
        "skip", ("missing_wav", f"{DIALOG}/{DIALOG}_F000.wav")),
    Row("wav-stereo", "corpus",
        lambda r, t: sf.write(wav_of(r), np.stack([sf.read(wav_of(r))[0]] * 2, axis=1), 16000),
        "fix", ("iemocap:mixed_to_mono", 1)),
    Row("wav-44.1kHz", "corpus",
        lambda r, t: sf.write(wav_of(r), 0.3 * np.sin(np.arange(22050) * 2 * np.pi * 220 / 44100), 44100),
        "fix", ("iemocap:resampled", 1)),
    # IEMOCAP text files
    Row("transcript-not-utf8", "corpus",
        lambda r, t: write_bytes(transcript_file(r), transcript_file(r).read_bytes() + "Ça va\n".encode("latin-1")),
        "error", (CorpusError, rf"transcriptions/{DIALOG}\.txt: not UTF-8 text \(invalid continuation byte")),
    Row("transcript-line-missing", "corpus",
        lambda r, t: replace_text(transcript_file(r), f"{DIALOG}_F000 [001.0000-001.5000]: I don't know, really.\n", ""),
        "skip", ("missing_transcript", f"transcriptions/{DIALOG}.txt")),
    Row("label-line-garbled", "corpus",
        lambda r, t: replace_text(label_file(r), f"\t{DIALOG}_F000\tneu\t[2.5000, 3.0000, 2.0000]", f"\t{DIALOG}_F000 neu"),
        "error", (CorpusError, rf"EmoEvaluation/{DIALOG}\.txt:3: label line does not parse: '\[1\.0000 - 1\.5000\]")),
    Row("label-unknown-emotion", "corpus",
        lambda r, t: replace_text(label_file(r), f"\t{DIALOG}_F000\tneu\t", f"\t{DIALOG}_F000\tjoy\t"),
        "error", (CorpusError, rf"EmoEvaluation/{DIALOG}\.txt:3: unknown emotion code 'joy' for {DIALOG}_F000")),
    Row("label-vad-garbled", "corpus",
        lambda r, t: replace_text(label_file(r), "neu\t[2.5000, 3.0000, 2.0000]", "neu\t[2.5, high, 2.0]"),
        "error", (CorpusError, rf"EmoEvaluation/{DIALOG}\.txt:3: \[V, A, D\] does not parse: \[2\.5, high, 2\.0\]")),
    Row("label-not-utf8", "corpus",
        lambda r, t: write_bytes(label_file(r), b"% header \xff\xfe\n" + label_file(r).read_bytes()),
        "error", (CorpusError, rf"EmoEvaluation/{DIALOG}\.txt: not UTF-8 text")),
    # the duplicate is appended as line 49: the fixture's label file has 48 lines (a header, then 7 label blocks
    # with their evaluators' rating lines; tests/corpus_fixtures.py)
    Row("utterance-labelled-twice", "corpus",
        lambda r, t: write_bytes(label_file(r, 2), label_file(r, 2).read_bytes()
                                 + f"[9.0000 - 9.5000]\t{DIALOG}_F000\tsad\t[2.0, 2.0, 2.0]\n".encode()),
        "error", (CorpusError, rf"EmoEvaluation/Ses02F_impro01\.txt:49: utterance {DIALOG}_F000 is labelled twice "
                               rf"\(also in .*EmoEvaluation/{DIALOG}\.txt\)")),
    Row("session-missing", "corpus", lambda r, t: shutil.rmtree(iemocap(r) / "Session3"),
        "error", (CorpusError, r"IEMOCAP_full_release/Session3: session folder is missing")),
    Row("session-without-label-files", "corpus", lambda r, t: label_file(r, 4).unlink(),
        "error", (CorpusError, r"Session4/dialog/EmoEvaluation: no label files")),
    Row("iemocap-root-missing", "corpus", lambda r, t: shutil.rmtree(iemocap(r)),
        "error", (CorpusError, r"IEMOCAP_full_release: IEMOCAP root folder does not exist")),
    # word alignment
    Row("wdseg-longer-than-wav", "corpus",
        lambda r, t: replace_text(wdseg_of(r), "   50    59     -5000 REALLY(2)", " 4900  4990     -5000 REALLY(2)"),
        "skip", ("alignment_beyond_audio", f"ForcedAlignment/{DIALOG}/{DIALOG}_F000.wdseg")),
    Row("wdseg-word-ends-before-it-starts", "corpus",
        lambda r, t: replace_text(wdseg_of(r), "   15    29     -3000 DON'T", "   15    10     -3000 DON'T"),
        "error", (CorpusError, rf"{DIALOG}_F000\.wdseg:4: word \"DON'T\" ends \(frame 10\) before it starts \(15\)")),
    # SSPNet rater files
    Row("sspnet-score-missing", "corpus", lambda r, t: set_score(r, 2, 1, ""),
        "error", (CorpusError, r"Personality_Scores/Annotator_02\.csv: clip 0002: openness score \(empty cell\) is missing")),
    Row("sspnet-score-out-of-range", "corpus", lambda r, t: set_score(r, 1, 5, "7"),
        "error", (CorpusError, r"Annotator_02\.csv: clip 0001: neuroticism score 7 is out of range \[-4, 4\]")),
    Row("sspnet-score-not-a-number", "corpus", lambda r, t: set_score(r, 3, 2, "high"),
        "error", (CorpusError, r"Annotator_02\.csv: clip 0003: conscientiousness score 'high' is not a number")),
    Row("sspnet-clip-scored-twice", "corpus",
        lambda r, t: write_bytes(rater_file(r), rater_file(r).read_bytes() + rater_file(r).read_bytes().splitlines(True)[3]),
        "error", (CorpusError, r"Annotator_02\.csv: clip 0003 is scored twice by this rater")),
    Row("sspnet-trait-column-missing", "corpus",
        lambda r, t: replace_text(rater_file(r), ",neuroticism", ",neurotic"),
        "error", (CorpusError, r"Annotator_02\.csv: missing trait columns \['neuroticism'\]")),
    Row("sspnet-scores-for-a-clip-without-audio", "corpus",
        lambda r, t: (r / "SSPNet" / "Audio_clips" / "0004.wav").unlink(),
        "error", (CorpusError, r"Personality_Scores: scores for clips without audio in Audio_clips/: \['0004'\]")),
    # GloVe files (a user-given path)
    Row("glove-mixed-dimensions", "corpus",
        lambda r, t: write_glove(t, [b"the " + vector(50), b"of " + vector(50), b"and " + vector(49)]),
        "error", (FeatureError, r"glove\.bad\.txt: line 3: 49 values, but the first line has 50")),
    Row("glove-not-utf8", "corpus", lambda r, t: write_glove(t, [b"the " + vector(50), b"caf\xe9 " + vector(50)]),
        "error", (FeatureError, r"glove\.bad\.txt: line 2: not UTF-8 text")),
    Row("glove-non-finite", "corpus",
        lambda r, t: write_glove(t, [b"the " + vector(50), b"of " + b" ".join([b"nan"] * 50)]),
        "error", (FeatureError, r"glove\.bad\.txt: line 2: a value is not finite")),
    Row("glove-file-missing", "corpus", lambda r, t: {"glove": str(t / "glove.42B.300d.txt")},
        "error", (FeatureError, r"glove\.42B\.300d\.txt: neither a known word-vector name .* nor an existing file")),
    # prediction requests to the registered model
    Row("request-missing-column", "request", lambda s, t: good_request(s).drop(columns=["transcript"]),
        "error", (MlflowException, r"Model is missing inputs \['transcript'\]")),
    Row("request-speaker-not-a-string", "request", lambda s, t: good_request(s).assign(speaker=[1, 1, 1]),
        "error", (MlflowException, r"Incompatible input types for column speaker")),
    Row("request-transcript-none", "request",
        lambda s, t: good_request(s).assign(transcript=["Hello.", None, "Fine."]),
        "error", (InputError, r"column 'transcript', row 1: expected a string, got float")),
    Row("request-empty-frame", "request", lambda s, t: good_request(s).iloc[:0],
        "error", (InputError, r"the request has no rows")),
    Row("request-empty-speaker-id", "request", lambda s, t: good_request(s, speaker=" "),
        "error", (InputError, r"column 'speaker', row 0: empty speaker id")),
    Row("request-speaker-below-minimum", "request",
        lambda s, t: pd.concat([good_request(s), good_request(s, n=2, speaker="s2")], ignore_index=True),
        "error", (InputError, r"speaker 's2' has 2 utterance\(s\) in the request; each speaker needs at least 3")),
    Row("request-audio-file-missing", "request",
        lambda s, t: good_request(s).assign(audio_path=[str(s.wavs[0]), str(t / "missing.wav"), str(s.wavs[2])]),
        "error", (InputError, r"row 1, column 'audio_path': .*/missing\.wav is not a readable file")),
    Row("request-audio-is-a-folder", "request",
        lambda s, t: good_request(s).assign(audio_path=[str(s.wavs[0]), str(t), str(s.wavs[2])]),
        "error", (InputError, r"row 1, column 'audio_path': .* is not a readable file")),
    Row("request-audio-not-audio", "request",
        lambda s, t: with_audio(s, t, lambda p: p.write_text("hello, not audio"), "notes.wav"),
        "error", (InputError, r"row 1, column 'audio_path': .*/notes\.wav: unreadable audio: Format not recognised")),
    Row("request-audio-shorter-than-a-frame", "request",
        lambda s, t: with_audio(s, t, lambda p: sf.write(p, np.zeros(400, np.float32), 16000), "short.wav"),
        "error", (InputError, r"row 1, column 'audio_path': .*/short\.wav: too short: 400 samples at 16000 Hz")),
    Row("request-audio-nan", "request",
        lambda s, t: with_audio(s, t, lambda p: sf.write(p, np.full(4000, np.nan, np.float32), 16000, subtype="FLOAT"),
                                "nan.wav"),
        "error", (InputError, r"row 1, column 'audio_path': .*/nan\.wav: non-finite samples: 4000 of 4000")),
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """A store with a FINISHED featurize run of the intact hand-built corpus; the rows run beside it."""
    from experiments import tracking
    from experiments.corpora import Corpora
    from paaan.data.corpus import EmotionCorpus
    from experiments.featurize import ARTIFACT, featurize_key, run_featurize
    from paaan.config import FeatureConfig

    base = tmp_path_factory.mktemp("matrix")
    intact = base / "intact"
    write_iemocap(iemocap(intact))
    write_sspnet(intact / "SSPNet")
    config = FeatureConfig(glove=str(write_glove_text(base / "glove.small.txt", 2000)))
    uri = f"sqlite:///{base / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tracking, "_EXPERIMENT_ID", None)
        mp.setattr(tracking, "_ENTRY_RUN", {})
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.setup_tracking(uri)
        corpora = Corpora(EmotionCorpus("iemocap", iemocap(intact)), intact / "SSPNet", None, demo=False)
        run_id = run_featurize(corpora, config, workers=1, progress=False)
        store = tracking.local_artifact_dir(run_id, ARTIFACT)
        yield {"base": base, "intact": intact, "config": config, "uri": uri, "run": run_id, "store": store,
               "key": featurize_key(corpora, config)[0], "digest": tree_digest(store), "tracking": tracking}


def _corpus_row(row: Row, matrix: dict, tmp_path: Path) -> None:
    from experiments.corpora import Corpora
    from paaan.data.corpus import EmotionCorpus
    from experiments.featurize import ARTIFACT, run_featurize, store_of

    tracking = matrix["tracking"]
    tracking.setup_tracking(matrix["uri"])
    root = tmp_path / "corpus"
    shutil.copytree(matrix["intact"], root)  # copy2: sizes and mtimes kept, so only the edit changes the fingerprint
    changes = row.make(root, tmp_path) or {}
    config = replace(matrix["config"], **changes)
    corpora = Corpora(EmotionCorpus("iemocap", iemocap(root)), root / "SSPNet", None, demo=False)
    before = {r.info.run_id for r in MlflowClient().search_runs([tracking.experiment_id()])}
    if row.outcome == "error":
        error_type, message = row.expect
        with pytest.raises(error_type, match=message) as error:
            run_featurize(corpora, config, workers=1, progress=False)
        print(f"[reliability] {row.id}: {type(error.value).__name__}: {error.value}")
        new = [r for r in MlflowClient().search_runs([tracking.experiment_id()]) if r.info.run_id not in before]
        if new:  # errors found before the run starts (none today) would leave no run at all
            assert [r.info.status for r in new] == ["FAILED"]
            artifacts = Path(local_file_uri_to_path(new[0].info.artifact_uri))
            assert not (artifacts / ARTIFACT / "manifest.json").exists()
        return
    run_id = run_featurize(corpora, config, workers=1, progress=False)
    assert run_id not in before  # the edited corpus is never served from the intact corpus' cache
    assert MlflowClient().get_run(run_id).info.status == "FINISHED"
    store = store_of(run_id)
    summary = store.manifest["summary"]
    if row.outcome == "skip":
        reason, path = row.expect
        listed = store.skipped[store.skipped["reason"] == reason]
        print(f"[reliability] {row.id}: skipped {listed[['path', 'reason', 'detail']].to_dict('records')}")
        assert len(listed) == 1 and listed["path"].iloc[0].endswith(path)
        kept = KEPT_UTTERANCES if reason == "alignment_beyond_audio" else KEPT_UTTERANCES - 1
        assert len(store.utterances) == kept and len(store.clips) == CLIPS
        if reason == "alignment_beyond_audio":  # the utterance stays, without alignment
            assert int(store.utterances["aligned"].sum()) == KEPT_UTTERANCES - 1
    else:
        fix, count = row.expect
        print(f"[reliability] {row.id}: audio fixes {summary['audio_fixes']}")
        assert summary["audio_fixes"].get(fix) == count
        assert len(store.utterances) == KEPT_UTTERANCES and summary["skipped_files"] == 0


def _request_row(row: Row, small_run, model, tmp_path: Path) -> None:
    request = row.make(small_run, tmp_path)
    error_type, message = row.expect
    with pytest.raises(error_type, match=message) as error:
        model.predict(request)
    print(f"[reliability] {row.id}: {type(error.value).__name__}: {str(error.value)[-300:]}")


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row, request, tmp_path):
    if row.kind == "corpus":
        matrix = request.getfixturevalue("matrix")
        _corpus_row(row, matrix, tmp_path)
        uri, label = matrix["uri"], row.id
        # the intact corpus' run: untouched, and still the cache's answer for the intact corpus
        assert tree_digest(matrix["store"]) == matrix["digest"]
        assert matrix["tracking"].find_cached_run("featurize", matrix["key"]).info.run_id == matrix["run"]
    else:
        small_run = request.getfixturevalue("small_run")
        _request_row(row, small_run, request.getfixturevalue("pyfunc_model"), tmp_path)
        uri, label = small_run.tracking_uri, row.id
    assert count_running(uri, label) == 0
    assert sqlite_integrity(uri) == "ok"


def test_the_matrix_covers_the_issue_list():
    """At least 20 rows, and every kind of input the issue names has one."""
    ids = {r.id for r in ROWS}
    assert len(ROWS) >= 20 and len(ids) == len(ROWS)
    named = ["wav-corrupt-header", "wav-zero-bytes", "wav-stereo", "wav-44.1kHz", "transcript-not-utf8",
             "label-line-garbled", "utterance-labelled-twice", "session-missing", "sspnet-score-missing",
             "sspnet-score-out-of-range", "glove-mixed-dimensions", "wdseg-longer-than-wav",
             "request-missing-column", "request-speaker-not-a-string", "request-empty-frame",
             "request-audio-file-missing", "request-speaker-below-minimum", "request-audio-not-audio"]
    assert set(named) <= ids


def test_a_bad_corpus_is_one_line_naming_the_file_and_exit_status_2(tmp_path):
    """The CLI prints a corpus error as one line naming the file and line, without a traceback, and exits 2."""
    import subprocess

    from reliability_tools import REPO, child_env, paaan_command

    root = tmp_path / "corpus"
    write_iemocap(iemocap(root))
    write_sspnet(root / "SSPNet")
    replace_text(label_file(root), f"\t{DIALOG}_F000\tneu\t", f"\t{DIALOG}_F000\tjoy\t")
    env = child_env(tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    done = subprocess.run(paaan_command("inspect", "iemocap", str(iemocap(root))), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1] == (f"error: {label_file(root)}:3: unknown emotion code 'joy' for {DIALOG}_F000")
    assert "Traceback" not in done.stderr


def test_alignment_overrun_worked_by_hand():
    from paaan.features.alignment import alignment_overrun

    assert alignment_overrun([0.15, 0.30, 0.60], 0.5) == pytest.approx(0.10)
    assert alignment_overrun([0.15, 0.30], 0.5) == 0.0 and alignment_overrun(None, 0.5) == 0.0
    assert alignment_overrun([], 0.5) == 0.0
    # the matrix row: REALLY(2) on frames 4900..4990 ends at (4990 + 1) / 100 = 49.91 s; the wav lasts 0.50 s
    assert alignment_overrun([0.15, 0.30, 0.42, 49.91], 0.5) == pytest.approx(49.41)


def test_an_alignment_is_dropped_only_beyond_the_tolerance():
    """0.25 s: an alignment ending 0.24 s after its 0.5 s wav stays, one ending 0.26 s after is dropped."""
    from paaan.features.pipeline import ALIGNMENT_TOLERANCE, _drop_overrunning_alignments

    assert ALIGNMENT_TOLERANCE == 0.25
    base = "/c/Session1/sentences/wav/Ses01F_impro01"
    table = pd.DataFrame({"wav_path": [f"{base}/Ses01F_impro01_F000.wav", f"{base}/Ses01F_impro01_M000.wav"],
                          "align_words": [["HI", "THERE"], ["HI", "THERE"]],
                          "align_starts": [[0.1, 0.3], [0.1, 0.3]], "align_ends": [[0.3, 0.74], [0.3, 0.76]]})
    skipped = _drop_overrunning_alignments(table, [0.5, 0.5])
    assert table["align_words"].tolist() == [["HI", "THERE"], None] and table["align_ends"].iloc[1] is None
    assert skipped == [{"corpus": "iemocap", "reason": "alignment_beyond_audio",
                        "path": "/c/Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_M000.wdseg",
                        "detail": "Ses01F_impro01_M000: the last word ends at 0.76 s, the wav lasts 0.50 s"}]


def test_a_bad_request_is_an_input_error_and_an_http_400():
    """In Python a bad request raises InputError; `mlflow models serve` answers it with HTTP 400 and the
    message (it shows any other exception as "unexpected error" with a stack trace)."""
    from registry.request import RequestError

    error = RequestError("row 1, column 'audio_path': /x.wav is not a readable file")
    assert isinstance(error, InputError) and isinstance(error, MlflowException)
    assert error.get_http_status_code() == 400 and error.message == str(error)
