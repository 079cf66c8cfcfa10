"""The ``featurize`` step: both corpora -> a feature store logged as the run's artifacts (``features/``).

Reused when a FINISHED featurize run has the same cache key: the feature settings, the word vectors, the
corpus fingerprints (file list, sizes, mtimes), the folders of one's own features (the same fingerprint of
every file, plus features.json's content) and the code version. Later steps find the store by run id.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import mlflow

from experiments import tracking
from experiments.cache import cache_key, fingerprint_files, fingerprint_tree
from experiments.corpora import Corpora
from paaan.config import FeatureConfig
from paaan.features.own import FEATURES_JSON, read_feature_set
from paaan.features.pipeline import featurize
from paaan.features.store import FeatureStore

STEP = "featurize"
ARTIFACT = "features"


# FeatureConfig field -> the features.json level of its folder (paaan.features.own)
OWN_FEATURES = {"audio_features": "frames", "functionals_dir": "functionals"}


def own_feature_sets(config: FeatureConfig) -> dict:
    """FeatureConfig field -> the FeatureSet of its folder (features.json checked), for the folders given."""
    return {field: read_feature_set(getattr(config, field), level) for field, level in OWN_FEATURES.items()
            if getattr(config, field)}


def featurize_key(corpora: Corpora, config: FeatureConfig) -> tuple[str, dict]:
    """The cache key of a featurize run, and the data fingerprints (also tagged on the run).

    A folder of one's own features enters like a corpus: every file's size and mtime (``fingerprint_tree``), plus
    features.json's content; its features.json is checked first, so a malformed one fails before anything runs.
    """
    fingerprints = {corpus.name: fingerprint_files(corpus.root, corpus.files()) for corpus in corpora.emotion_corpora}
    fingerprints["sspnet"] = fingerprint_tree(corpora.sspnet)
    if any(c.layout != "iemocap" for c in corpora.emotion_corpora):  # how each was read (an IEMOCAP key stays as it was)
        fingerprints["layouts"] = {c.name: c.describe() for c in corpora.emotion_corpora}
    glove = config.glove
    if Path(glove).is_file():  # a user's GloVe file: its size and mtime stand for its content
        stat = Path(glove).stat()
        glove = {"path": str(Path(glove).resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns}
    own = {}
    for field in own_feature_sets(config):
        root = Path(getattr(config, field)).resolve()
        fingerprints[field] = fingerprint_tree(root)
        own[field] = {"path": str(root), "features_json": json.loads((root / FEATURES_JSON).read_text())}
    inputs = {"features": config.__dict__ | {"glove": glove} | own, "data": fingerprints}
    return cache_key(STEP, inputs), fingerprints


def corpus_params(corpora: Corpora) -> dict[str, str]:
    """The corpora as a run's parameters: ``iemocap_root`` for an IEMOCAP-layout emotion corpus (as always),
    ``emotion_corpus`` (its spec) and, under the cross-corpus protocol, ``test_corpus``; EmoBox's ``wav_root`` and
    ``transcripts`` where given."""
    params = {"emotion_corpus": corpora.emotion.spec}
    if corpora.emotion.layout == "iemocap":
        params["iemocap_root"] = str(corpora.emotion.root)
    if corpora.test is not None:
        params["test_corpus"] = corpora.test.spec
    for prefix, corpus in (("", corpora.emotion), ("test_", corpora.test)):
        params |= {prefix + field: str(getattr(corpus, field)) for field in ("wav_root", "transcripts")
                   if corpus is not None and getattr(corpus, field)}
    return params


def run_featurize(corpora: Corpora, config: FeatureConfig, workers: int = 0, parent_run_id: str | None = None,
                  progress: bool = True, entry: bool = False) -> str:
    """Run id of a featurize run for these inputs: a cached one, or a new one computed now."""
    key, fingerprints = featurize_key(corpora, config)
    cached = tracking.cached_step(STEP, key, entry)
    if cached is not None:
        return cached
    tags = {tracking.TAG_KEY: key, "paaan.data_fingerprint": json.dumps(fingerprints, sort_keys=True),
            "paaan.demo_corpus": str(corpora.demo)}
    sets = own_feature_sets(config)
    with tracking.step_run("featurize", STEP, parent_run_id=parent_run_id, tags=tags, entry=entry,
                           system_metrics=True) as run:
        own_params = {}
        for field, feature_set in sets.items():
            prefix = "audio_features" if field == "audio_features" else "functionals_features"
            own_params |= {field: getattr(config, field), f"data_fingerprint.{field}": fingerprints[field]["hash"],
                           **{f"{prefix}.{k}": v for k, v in feature_set.describe().items()}}
        tracking.log_params({
            **corpus_params(corpora), "sspnet_root": corpora.sspnet, "glove": config.glove,
            "frame_size": config.frame_size, "frame_step": config.frame_step,
            "pool_frames": config.pool_frames, "functionals": config.functionals,
            "sample_rate": config.sample_rate, "workers": workers or "all",
            **{f"data_fingerprint.{c.name}": fingerprints[c.name]["hash"] for c in corpora.emotion_corpora},
            "data_fingerprint.sspnet": fingerprints["sspnet"]["hash"],
            **own_params,
        })
        target = tracking.local_artifact_target(run.info.run_id, ARTIFACT)
        scratch = None
        if target is None:  # remote artifact store: build locally, then upload
            scratch = Path(tempfile.mkdtemp(prefix="paaan-features-"))
            target = scratch / ARTIFACT
        summary = featurize(corpora.emotion_corpora, corpora.sspnet, target, config=config, workers=workers,
                            progress=progress)
        if scratch is not None:
            mlflow.log_artifacts(str(target), ARTIFACT)
            shutil.rmtree(scratch, ignore_errors=True)
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, (int, float))})
        mlflow.log_dict(summary, "featurize_summary.json")
        _print_summary(summary)
        return run.info.run_id


def store_of(run_id: str) -> FeatureStore:
    """The feature store of a featurize run (local path or a cached download)."""
    return FeatureStore(tracking.local_artifact_dir(run_id, ARTIFACT))


def _print_summary(summary: dict) -> None:
    own = (f"; read {summary['own_feature_files']} files of own features ({summary['audio_features']} steps, "
           f"{summary['functionals_set']} functionals) in {summary['own_features_seconds']} s"
           if summary.get("own_feature_files") else "")
    cached = f" ({summary['files_from_cache']} from the acoustic cache)" if summary.get("files_from_cache") else ""
    print(f"featurized {summary['files_featurized']}/{summary['files']} files with openSMILE{cached} "
          f"({summary['audio_hours']} h of audio) in {summary['seconds']} s, real-time factor "
          f"{summary['real_time_factor']}x with {summary['workers']} workers{own}; "
          f"OOV share {summary['oov_share']}; skipped {summary['skipped_files']}"
          + (f" ({summary['skipped_reasons']})" if summary["skipped_files"] else ""), flush=True)
