"""Benchmark: does a served model predict as it was evaluated? Training code path against the pyfunc.

    python -m benchmarks.bench_serving_agreement --tracking-uri sqlite:////abs/path/mlflow.db
        [--models paaan-PAaAN_PP@champion paaan-IA_T@champion] [--iemocap-root PATH] [--speakers N]
        [--audio path|base64]

For each registered model (``NAME@ALIAS`` or ``NAME/VERSION``) and the demo corpus it was trained on (the
feature store of the model's own featurize run, ``spec.json``'s ``featurize_run``):

- (a) training: the training code path on the feature store's tensors: ``paaan.train.corpus_tensors`` (LLD
  steps z-normalised by featurize, ``step_word`` from the stored forced alignment), ``collate`` and the
  forward pass through ``paaan.train.evaluate`` (what scores a test fold), with the registered model's own
  network weights and the personality embedding training used (the model's personality source fitted again
  as training fitted it: ``experiments.train.personality_source``);
- (b) served, timed: ``mlflow.pyfunc`` predictions, one request per speaker holding all of that speaker's
  utterances (so z-normalisation and retrieval see what training saw), with ``word_starts``/``word_ends``
  from the store's words table (featurize's per-token start/end of the corpus' forced alignment);
- (c) served, untimed: the same requests without timings (the time-average fallback).

It reports the agreement of the predicted classes (%) between (a) and (b), (a) and (c), (b) and (c), the
largest class-probability difference, and the UAR of each, as JSON in benchmarks/results/serving_agreement.json
and a printed table. The UARs are on the utterances the all-session model was trained on: a check that serving
matches evaluation, not a generalisation figure. openSMILE's results for a file are computed once and reused by
(c) and by the other models of the same feature settings (the pyfunc's ``acoustic`` memoised: deterministic,
and it halves the run); everything else, validation, z-normalisation, retrieval, batching, runs per request.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import time
from pathlib import Path

from benchmarks.common import print_table, write_result

import numpy as np
import pandas as pd

DEFAULT_MODELS = ("paaan-PAaAN_PP@champion", "paaan-IA_T@champion")


# --- the registered model and what it was trained on -------------------------------------------------------


def model_uri(reference: str) -> str:
    """``NAME@ALIAS`` -> models:/NAME@ALIAS, ``NAME/VERSION`` -> models:/NAME/VERSION (a models:/ URI as is)."""
    return reference if reference.startswith("models:/") else f"models:/{reference}"


def model_version(client, reference: str):
    reference = reference.removeprefix("models:/")
    if "@" in reference:
        name, alias = reference.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    name, version = reference.rsplit("/", 1)
    return client.get_model_version(name, version)


def corpus_root(client, featurize_run: str, given: Path | None) -> Path:
    """The IEMOCAP root the feature store was made from: ``given``, else the featurize run's parameter (logged
    with the home folder as ``~``)."""
    if given is not None:
        return given
    params = client.get_run(featurize_run).data.params
    value = params.get("iemocap_root.resolved") or params.get("iemocap_root")
    if not value:
        raise SystemExit(f"featurize run {featurize_run} names no iemocap_root: pass --iemocap-root")
    root = Path(value).expanduser()
    if not root.is_dir():
        raise SystemExit(f"the corpus the model was trained on is not at {root}: pass --iemocap-root")
    return root


def training_personality(python_model, version, store, root: Path) -> np.ndarray:
    """(n_utterances, 25) float32: the embedding each utterance's speaker had in training: the model's personality
    source fitted again as training fitted it for a model of every utterance (every speaker, the shla step's
    logged latents, the retrieve step's bank and k, or the demo corpus' true profiles)."""
    from mlflow.tracking import MlflowClient

    from experiments.profiles import load_profile
    from experiments.train import Upstream, personality_source
    from paaan.personality import PersonalitySource

    params = MlflowClient().get_run(version.run_id).data.params
    truth = root.parent / "ground_truth.json"
    upstream = Upstream(params["featurize_run"], params.get("shla_run"), None, str(truth) if truth.is_file() else None)
    profile, _ = load_profile("demo")  # a model of every utterance fits on every speaker, whatever the profile
    source = personality_source(python_model.variant, python_model.spec["k"], upstream, store, "all", profile,
                                int(params.get("seed", 0)))
    return (source or PersonalitySource()).embed(None, store.utterances["speaker"].to_numpy())


def ground_truth(root: Path) -> Path:
    path = root.parent / "ground_truth.json"
    if not path.is_file():
        raise SystemExit(f"an oracle variant needs the demo corpus' ground_truth.json, not found at {path}")
    return path


def training_predictions(python_model, store, personality: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(n_utterances, 4) class probabilities through the training code path, in the store's order."""
    import torch

    from paaan.train import evaluate, corpus_tensors

    data = corpus_tensors(str(store.path.resolve()))
    rows, probs, _, _, _ = evaluate(python_model.model, data, np.arange(len(data.labels)), personality,
                                     batch_size, torch.device("cpu"), want_attention=False)
    assert np.array_equal(rows, np.arange(len(data.labels)))
    return probs


# --- the served model -------------------------------------------------------------------------------------


def speaker_requests(store, root: Path, timed: bool, audio: str, speakers: list[str], traits: pd.DataFrame | None):
    """(store rows, request frame) per speaker: all of that speaker's utterances, in the store's order."""
    table, words = store.utterances, store.words
    by_utterance = {u: w.sort_values("position") for u, w in words.groupby("utterance")}
    for speaker in speakers:
        rows = np.flatnonzero(table["speaker"].to_numpy() == speaker)
        frame = pd.DataFrame({"speaker": [str(speaker)] * len(rows),
                              "transcript": table["transcript"].iloc[rows].astype(str).to_list(),
                              "utterance_id": table["utterance_id"].iloc[rows].astype(str).to_list()})
        paths = [root / p for p in table["wav_path"].iloc[rows]]
        if audio == "base64":
            frame["audio_base64"] = [base64.b64encode(p.read_bytes()).decode("ascii") for p in paths]
        else:
            frame["audio_path"] = [str(p) for p in paths]
        if timed:
            starts, ends = [], []
            for row in rows:
                mine = by_utterance.get(row)
                if mine is None or not mine["start"].notna().any():  # no token aligned: no timings
                    starts.append(None)
                    ends.append(None)
                    continue
                starts.append([None if pd.isna(v) else float(v) for v in mine["start"]])
                ends.append([None if pd.isna(v) else float(v) for v in mine["end"]])
            frame["word_starts"], frame["word_ends"] = starts, ends
        if traits is not None:
            for trait in traits.columns:
                frame[trait] = float(traits.loc[speaker, trait])
        yield rows, frame


def memoise_acoustic(python_model, cache: dict) -> None:
    """Reuse openSMILE's results for files already computed with the same feature settings."""
    original = python_model.acoustic
    settings = json.dumps(python_model.spec["features"], sort_keys=True, default=str)

    def cached(frame, audio, timings, **options):  # options: with_lld, with_functionals
        key = (settings, tuple(sorted(options.items())),
               tuple(r.path or hashlib.sha256(r.data).hexdigest() for r in audio))
        if key not in cache:
            cache[key] = original(frame, audio, timings, **options)
        return cache[key]

    python_model.acoustic = cached


def served_predictions(model, store, root: Path, timed: bool, audio: str, speakers: list[str],
                       traits: pd.DataFrame | None) -> np.ndarray:
    out = np.full((len(store.utterances), 4), np.nan)
    for rows, frame in speaker_requests(store, root, timed, audio, speakers, traits):
        answer = model.predict(frame)
        assert answer["utterance_id"].tolist() == frame["utterance_id"].tolist()
        out[rows] = answer[["p_ang", "p_hap", "p_neu", "p_sad"]].to_numpy()
    return out


# --- figures -------------------------------------------------------------------------------------------------


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """% of utterances whose predicted class is the same."""
    return round(100.0 * float(np.mean(a.argmax(1) == b.argmax(1))), 2)


def compare(reference: str, cache: dict, root_given: Path | None, max_speakers: int | None, audio: str) -> dict:
    import mlflow
    from mlflow.tracking import MlflowClient

    from experiments.featurize import store_of
    from paaan.data.schema import EMOTIONS
    from paaan.metrics import uar

    client = MlflowClient()
    version = model_version(client, reference)
    loaded_at = time.perf_counter()
    model = mlflow.pyfunc.load_model(model_uri(reference))
    python_model = model.unwrap_python_model()
    load_seconds = time.perf_counter() - loaded_at
    memoise_acoustic(python_model, cache)
    spec = python_model.spec
    store = store_of(spec["featurize_run"])
    root = corpus_root(client, spec["featurize_run"], root_given)
    table = store.utterances
    speakers = sorted(table["speaker"].unique())[: max_speakers or None]
    keep = np.flatnonzero(table["speaker"].isin(speakers).to_numpy())
    traits = None
    if python_model.personality.needs_traits:
        from paaan.personality import true_profiles

        traits = true_profiles(ground_truth(root))
    labels = table["label"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()

    seconds = {}
    started = time.perf_counter()
    trained = training_predictions(python_model, store, training_personality(python_model, version, store, root))
    seconds["training_path"] = time.perf_counter() - started
    started = time.perf_counter()
    timed = served_predictions(model, store, root, True, audio, speakers, traits)
    seconds["served_timed"] = time.perf_counter() - started
    started = time.perf_counter()
    untimed = served_predictions(model, store, root, False, audio, speakers, traits)
    seconds["served_untimed"] = time.perf_counter() - started
    a, b, c, y = trained[keep], timed[keep], untimed[keep], labels[keep]
    words = store.words
    aligned = words[words["first_step"] >= 0]["utterance"].unique()
    return {
        "model": reference, "version": int(version.version), "variant": python_model.variant.name,
        "time_alignment": spec["model"].get("time_alignment"), "featurize_run": spec["featurize_run"],
        "audio": audio, "speakers": len(speakers), "utterances": int(len(keep)),
        "aligned_utterances": int(np.isin(keep, aligned).sum()),
        "agreement_training_vs_timed_pct": agreement(a, b),
        "agreement_training_vs_untimed_pct": agreement(a, c),
        "agreement_timed_vs_untimed_pct": agreement(b, c),
        "max_abs_prob_diff_training_vs_timed": float(np.abs(a - b).max()),
        "max_abs_prob_diff_training_vs_untimed": float(np.abs(a - c).max()),
        "uar_training_path": round(uar(y, a.argmax(1)), 4),
        "uar_served_timed": round(uar(y, b.argmax(1)), 4),
        "uar_served_untimed": round(uar(y, c.argmax(1)), 4),
        "load_seconds": round(load_seconds, 2), "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True, help="the tracking store the models are registered in")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--iemocap-root", type=Path, default=None,
                        help="the corpus the models were trained on (default: the featurize run's iemocap_root)")
    parser.add_argument("--speakers", type=int, default=None, help="only the first N speakers (default: all)")
    parser.add_argument("--audio", choices=("path", "base64"), default="path",
                        help="how the requests carry the audio (base64: as a remote client would)")
    args = parser.parse_args()
    started = time.perf_counter()
    import mlflow

    mlflow.set_tracking_uri(args.tracking_uri)
    cache: dict = {}
    results = [compare(m, cache, args.iemocap_root, args.speakers, args.audio) for m in args.models]
    rows = [[r["model"], r["variant"], r["time_alignment"], r["utterances"], r["agreement_training_vs_timed_pct"],
             r["agreement_training_vs_untimed_pct"], r["uar_training_path"], r["uar_served_timed"],
             r["uar_served_untimed"], f"{r['max_abs_prob_diff_training_vs_timed']:.1e}"] for r in results]
    print_table("Served predictions against the training code path (all-session models, on their training "
                "utterances)", rows,
                ["model", "variant", "alignment", "utterances", "agree (a)-(b) %", "agree (a)-(c) %",
                 "UAR (a)", "UAR (b) timed", "UAR (c) untimed", "max |dp| (a)-(b)"])
    write_result("serving_agreement", {"tracking_uri": args.tracking_uri, "models": results}, started)


if __name__ == "__main__":
    main()
