"""Text features (paper II-B2, III-C): offline POS tagger, tokens, GloVe word vectors, POS groups."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import nltk
import numpy as np
import pytest

from paaan.errors import FeatureError
from paaan.features import text
from paaan.features.text import (POS_GROUPS, TAGGER_DIR, TAGGER_FILES, WordVectors, ensure_pos_tagger, oov_share,
                                 pos_group, pos_tag, read_perceptron_pickle, tokenize, transcript_features)


@pytest.fixture(scope="module")
def tagger_cache(tmp_path_factory):
    """An empty PAAAN_CACHE, with the tagger installed into it once for this module."""
    saved_path, saved_env = list(nltk.data.path), os.environ.get("PAAAN_CACHE")
    cache = tmp_path_factory.mktemp("paaan_cache")
    os.environ["PAAAN_CACHE"] = str(cache)
    root = ensure_pos_tagger()
    yield root
    nltk.data.path[:] = saved_path
    if saved_env is None:
        os.environ.pop("PAAAN_CACHE", None)
    else:
        os.environ["PAAAN_CACHE"] = saved_env


@pytest.fixture(scope="module")
def glove():
    return WordVectors.default()


# --- POS tagger ----------------------------------------------------------------------------------------


def test_tagger_installs_from_an_empty_cache_into_nltks_layout(tagger_cache):
    assert tagger_cache == tagger_cache.parent / "nltk_data" and tagger_cache.parent.name.startswith("paaan_cache")
    folder = tagger_cache / TAGGER_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(TAGGER_FILES)  # no temp files left behind
    classes = json.loads((folder / "averaged_perceptron_tagger_eng.classes.json").read_text())
    assert len(classes) == 45  # the 45 Penn Treebank tags (36 word tags + 9 punctuation tags)
    assert nltk.data.path[0] == str(tagger_cache)


def test_plain_nltk_pos_tag_works_after_install(tagger_cache):
    # NLTK's own doctest for pos_tag (nltk/tag/__init__.py), word for word.
    tokens = nltk.word_tokenize("John's big idea isn't all that bad.", preserve_line=True)
    assert nltk.pos_tag(tokens) == [("John", "NNP"), ("'s", "POS"), ("big", "JJ"), ("idea", "NN"), ("is", "VBZ"),
                                    ("n't", "RB"), ("all", "PDT"), ("that", "DT"), ("bad", "JJ"), (".", ".")]


def test_tags_of_a_sentence_with_a_pronoun_a_modal_and_adverbs(tagger_cache):
    # Penn guidelines by hand: You/PRP should/MD not/RB have/VB eaten/VBN the/DT cake/NN so/RB quickly/RB ./.
    tokens = "You should not have eaten the cake so quickly .".split()
    assert pos_tag(tokens) == ["PRP", "MD", "RB", "VB", "VBN", "DT", "NN", "RB", "RB", "."]
    # He/PRP and/CC I/PRP went/VBD to/TO the/DT store/NN because/IN we/PRP were/VBD hungry/JJ ./.
    tokens = "He and I went to the store because we were hungry .".split()
    assert pos_tag(tokens) == ["PRP", "CC", "PRP", "VBD", "TO", "DT", "NN", "IN", "PRP", "VBD", "JJ", "."]


def test_fox_sentence_tags(tagger_cache):
    tags = pos_tag("The quick brown fox jumps over the lazy dog .".split())
    # Gold Penn tags: DT JJ JJ NN VBZ IN DT JJ NN . ; this WSJ-trained perceptron (like NLTK's) reads the
    # ambiguous "brown" as a noun and "jumps" as a plural noun, so only the other eight are asserted.
    gold = {0: "DT", 1: "JJ", 3: "NN", 5: "IN", 6: "DT", 7: "JJ", 8: "NN", 9: "."}
    assert {i: tags[i] for i in gold} == gold
    assert len(tags) == 10


def test_tagger_uses_case(tagger_cache):
    # The tagger's tag dictionary is case-sensitive: "Will" opening a name vs the modal "will".
    assert pos_tag(["Will", "Smith", "came"])[0] == "NNP"
    assert pos_tag(["I", "will", "come"])[1] == "MD"


def test_tagger_install_is_idempotent(tagger_cache):
    folder = tagger_cache / TAGGER_DIR
    before = {name: (folder / name).stat().st_mtime_ns for name in TAGGER_FILES}
    assert ensure_pos_tagger() == tagger_cache
    assert {name: (folder / name).stat().st_mtime_ns for name in TAGGER_FILES} == before  # not rewritten
    assert nltk.data.path.count(str(tagger_cache)) == 1


def test_interrupted_install_leaves_no_half_written_file_and_is_redone(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_dump = json.dump

    def dump_then_die(obj, fh, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second file (tagdict): write a fragment, then "get killed"
            fh.write('{"half":')
            raise KeyboardInterrupt
        return real_dump(obj, fh, *args, **kwargs)

    monkeypatch.setattr(text.json, "dump", dump_then_die)
    saved = list(nltk.data.path)
    try:
        with pytest.raises(KeyboardInterrupt):
            ensure_pos_tagger(tmp_path)
        folder = tmp_path / TAGGER_DIR
        assert sorted(p.name for p in folder.iterdir()) == ["averaged_perceptron_tagger_eng.weights.json"]
        monkeypatch.setattr(text.json, "dump", real_dump)
        ensure_pos_tagger(tmp_path)
        assert sorted(p.name for p in folder.iterdir()) == sorted(TAGGER_FILES)
        assert json.loads((folder / TAGGER_FILES[1]).read_text())["the"] == "DT"
    finally:
        nltk.data.path[:] = saved


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_a_pickle_that_calls_os_system(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps(({}, {}, _RunsACommand()), protocol=2))
    with pytest.raises(FeatureError) as err:
        read_perceptron_pickle(path)
    assert err.value.path == str(path)
    assert "system" in err.value.problem and "refusing" in err.value.problem


def test_restricted_unpickler_reads_plain_containers(tmp_path):
    path = tmp_path / "tiny.pickle"
    model = ({"bias": {"NN": 1.5, "VB": -0.5}}, {"the": "DT"}, {"NN", "VB", "DT"})
    path.write_bytes(pickle.dumps(model, protocol=2))
    assert read_perceptron_pickle(path) == model
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(FeatureError, match="weights, tagdict, classes"):
        read_perceptron_pickle(path)


# --- tokens ---------------------------------------------------------------------------------------------


def test_non_speech_markers_are_dropped_and_punctuation_kept():
    assert tokenize("[LAUGHTER] Yeah, I know! [BREATHING]") == ["Yeah", ",", "I", "know", "!"]
    assert tokenize("[GARBAGE]") == []
    assert tokenize("[LAUGHTER][BREATHING]  ") == []


def test_contractions_split_as_in_glove_and_case_is_kept():
    assert tokenize("I don't know, I'm gonna go.") == ["I", "do", "n't", "know", ",", "I", "'m", "gon", "na",
                                                        "go", "."]
    assert tokenize("Can't you?") == ["Ca", "n't", "you", "?"]


def test_sentence_internal_periods_are_split_off():
    # word_tokenize(preserve_line=True) alone would give "me." (not a GloVe word); the Punkt split fixes it.
    assert tokenize("Excuse me. Do you have your forms?") == ["Excuse", "me", ".", "Do", "you", "have", "your",
                                                              "forms", "?"]
    assert tokenize('He said "no" -- really...') == ["He", "said", "``", "no", "''", "--", "really", "..."]


# --- word vectors --------------------------------------------------------------------------------------


def test_default_glove_is_6b_50d_and_the_is_row_0(glove):
    assert glove.dim == 50 and len(glove) == 400_000
    assert glove.row("the") == 0 and glove.row(",") == 1 and glove.row(".") == 2
    # The first line of the official glove.6B.50d.txt: "the 0.418 0.24968 -0.41242 0.1217 0.34527 ..."
    np.testing.assert_array_equal(glove.vectors[0, :5], np.float32([0.418, 0.24968, -0.41242, 0.1217, 0.34527]))


def test_lookup_lowercases_and_zeroes_oov_tokens(glove):
    U, oov = glove.lookup(["The", "qqzxv", "!"])
    assert U.shape == (3, 50) and U.dtype == np.float32
    np.testing.assert_array_equal(U[0], glove.vectors[0])
    np.testing.assert_array_equal(U[1], np.zeros(50, np.float32))
    np.testing.assert_array_equal(U[2], glove.vectors[glove.row("!")])
    assert oov.tolist() == [False, True, False]
    # the tokenizer's pieces are GloVe words
    assert not glove.lookup(["do", "n't", "gon", "na", "``", "''", "--", "..."])[1].any()


def test_empty_lookup_has_shape_0_by_dim(glove):
    U, oov = glove.lookup([])
    assert U.shape == (0, 50) and oov.shape == (0,)


def _write_glove(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GLOVE_LINES = ["the 1 2 3", ", 0.5 0.5 0.5", "cat -1 0 1.5", "dog 2 2 2", "happy 0.25 -0.25 4"]


def test_from_glove_text_reads_a_small_file(tmp_path):
    wv = WordVectors.from_glove_text(_write_glove(tmp_path / "g.txt", GLOVE_LINES))
    assert wv.dim == 3 and wv.words == ("the", ",", "cat", "dog", "happy")
    np.testing.assert_array_equal(wv.vectors[2], np.float32([-1, 0, 1.5]))
    U, oov = wv.lookup(["Cat", "bird"])
    np.testing.assert_array_equal(U, np.float32([[-1, 0, 1.5], [0, 0, 0]]))
    assert oov.tolist() == [False, True]


def test_from_glove_text_reads_a_zip(tmp_path):
    with zipfile.ZipFile(tmp_path / "glove.zip", "w") as zf:
        zf.writestr("glove.tiny.3d.txt", "".join(line + "\n" for line in GLOVE_LINES))
    wv = WordVectors.from_glove_text(tmp_path / "glove.zip")
    assert len(wv) == 5 and wv.row("happy") == 4
    np.testing.assert_array_equal(wv.vectors[4], np.float32([0.25, -0.25, 4]))
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as zf:
        zf.writestr("a.txt", "the 1 2 3\n")
        zf.writestr("b.txt", "the 1 2 3\n")
    with pytest.raises(FeatureError, match="expected one .txt file in the zip, found 2"):
        WordVectors.from_glove_text(tmp_path / "two.zip")


def test_vocabulary_and_top_n_keep_only_those_rows(tmp_path):
    path = _write_glove(tmp_path / "g.txt", GLOVE_LINES)
    wv = WordVectors.from_glove_text(path, vocabulary=["Happy", "cat", "unicorn"], top_n=1)
    assert wv.words == ("the", "cat", "happy")  # file order: the top-1 line, then the vocabulary's words
    U, oov = wv.lookup(["HAPPY", "dog"])  # "HAPPY" is found through "happy"; "dog" was not kept
    np.testing.assert_array_equal(U, np.float32([[0.25, -0.25, 4], [0, 0, 0]]))
    assert oov.tolist() == [False, True]


def test_reading_stops_once_top_n_and_vocabulary_are_found(tmp_path):
    # A broken line after every wanted word is never reached, which shows the file is streamed, not slurped.
    path = _write_glove(tmp_path / "g.txt", GLOVE_LINES[:3] + ["broken 1 2"] + GLOVE_LINES[3:])
    wv = WordVectors.from_glove_text(path, vocabulary=["cat"], top_n=2)
    assert wv.words == ("the", ",", "cat")
    with pytest.raises(FeatureError):
        WordVectors.from_glove_text(path, vocabulary=["dog"])


def test_a_line_of_another_dimension_names_the_file_and_line(tmp_path):
    path = _write_glove(tmp_path / "g.txt", GLOVE_LINES[:2] + ["cat -1 0"] + GLOVE_LINES[3:])
    with pytest.raises(FeatureError) as err:
        WordVectors.from_glove_text(path)
    assert err.value.path == str(path)
    assert err.value.problem.startswith("line 3: 2 values, but the first line has 3")


def test_an_unparsable_or_infinite_number_names_the_line(tmp_path):
    path = _write_glove(tmp_path / "g.txt", ["the 1 2 3", "cat 1 x 3"])
    with pytest.raises(FeatureError, match=r"line 2: unparsable number"):
        WordVectors.from_glove_text(path)
    path = _write_glove(tmp_path / "h.txt", ["the 1 2 3", "cat 1 inf 3"])
    with pytest.raises(FeatureError, match=r"line 2: a value is not finite"):
        WordVectors.from_glove_text(path)


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "g.txt"
    path.write_bytes(b"the 1 2 3\ncaf\xe9 1 2 3\n")  # latin-1 e-acute
    with pytest.raises(FeatureError, match=r"line 2: not UTF-8 text"):
        WordVectors.from_glove_text(path)


def test_missing_or_empty_glove_files_are_named(tmp_path):
    with pytest.raises(FeatureError, match="not found"):
        WordVectors.from_glove_text(tmp_path / "nope.txt")
    with pytest.raises(FeatureError, match="no word vectors"):
        WordVectors.from_glove_text(_write_glove(tmp_path / "empty.txt", []))


def test_subset_is_compact_and_looks_up_the_same(glove):
    small = glove.subset(["Hello", "world", "hello", "qqzxv"])
    assert small.words == ("hello", "world") and small.vectors.shape == (2, 50)
    tokens = ["world", "Hello", "qqzxv"]
    (U_all, oov_all), (U_small, oov_small) = glove.lookup(tokens), small.lookup(tokens)
    np.testing.assert_array_equal(U_small, U_all)
    assert oov_small.tolist() == oov_all.tolist() == [False, False, True]


def test_from_source_resolves_the_name_and_paths(tmp_path, glove):
    small = WordVectors.from_source("glove-6b-50d", vocabulary=["sad", "angry"], top_n=2)
    assert small.words == ("the", ",", "sad", "angry")
    np.testing.assert_array_equal(small.vectors[2], glove.vectors[glove.row("sad")])
    from_file = WordVectors.from_source(str(_write_glove(tmp_path / "g.txt", GLOVE_LINES)))
    assert from_file.dim == 3
    with pytest.raises(FeatureError, match="neither a known word-vector name"):
        WordVectors.from_source("glove-42b-300d")


def test_oov_share_pools_tokens_over_utterances():
    # 1 of 4 tokens OOV in the first utterance, 2 of 2 in the second: (1 + 2) / (4 + 2) = 0.5
    masks = [np.array([True, False, False, False]), np.array([True, True])]
    assert oov_share(masks) == 0.5
    assert oov_share(masks[0]) == 0.25
    assert np.isnan(oov_share([]))


def test_transcript_features_puts_it_together(tagger_cache):
    wv = WordVectors(["i", "really", "like", "it", "!"], np.arange(10, dtype=np.float32).reshape(5, 2))
    f = transcript_features("[LAUGHTER] I really like it, wow!", wv)
    assert f.tokens == ["I", "really", "like", "it", ",", "wow", "!"]
    assert f.pos_tags[:4] == ["PRP", "RB", "VBP", "PRP"]
    assert f.embeddings.shape == (7, 2)
    np.testing.assert_array_equal(f.embeddings[1], [2, 3])  # row 1 of arange(10).reshape(5, 2)
    assert f.oov.tolist() == [False, False, False, False, True, True, False]


# --- POS groups (paper III-C) -----------------------------------------------------------------------------


def test_every_sub_tag_maps_to_its_group():
    expected = {"CC": "CC", "IN": "IN", "JJ": "JJ", "JJR": "JJ", "JJS": "JJ", "MD": "MD", "NN": "NN", "NNS": "NN",
                "NNP": "NN", "NNPS": "NN", "PRP": "PRP", "PRP$": "PRP", "RB": "RB", "RBR": "RB", "RBS": "RB",
                "VB": "VB", "VBD": "VB", "VBG": "VB", "VBN": "VB", "VBP": "VB", "VBZ": "VB"}
    assert {tag: pos_group(tag) for tag in expected} == expected
    assert list(POS_GROUPS) == ["CC", "IN", "JJ", "MD", "NN", "PRP", "RB", "VB"]  # the eight of III-C


def test_other_tags_belong_to_no_group():
    for tag in ["DT", "TO", "UH", "WRB", "WP", "WP$", "RP", "PDT", "CD", "POS", ".", ",", "``", "-LRB-"]:
        assert pos_group(tag) is None, tag


def test_groups_follow_the_prefix_rule_over_the_taggers_45_tags(tagger_cache):
    classes = json.loads((tagger_cache / TAGGER_DIR / TAGGER_FILES[2]).read_text())
    for tag in classes:
        by_prefix = [g for g in POS_GROUPS if tag.startswith(g)]
        assert pos_group(tag) == (by_prefix[0] if by_prefix else None), tag
    assert sum(pos_group(tag) is not None for tag in classes) == 21
