"""The ``tune_k`` step: Optuna over k for one retrieval variant and one outer fold, every trial logged.

The objective (``paaan.tuning``) is the UAR on the fold's held-out training speakers (its inner validation
set), so the test speakers are never looked at; early stopping and the best epoch read the same speakers. The ablation runs the same objective under Ray Tune's Optuna searcher for every
(variant, fold) at once; this standalone step is for looking at one search in detail.
"""

from __future__ import annotations

import mlflow
import optuna

from experiments import tracking
from experiments.corpora import Corpora
from experiments.featurize import store_of
from experiments.train import prepare_upstream, train_and_log
from paaan.tasks import get_task
from paaan.config import Profile
from paaan.tuning import inner_fold, k_search_space
from paaan.variants import Variant


def run_tune_k(corpora: Corpora, profile: Profile, variant: Variant, fold: int, trials: int, seed: int = 0,
               protocol: str = "session", folds_file: str | None = None) -> str:
    if not variant.uses_retrieval:
        raise ValueError(f"variant {variant.name} retrieves no personality: there is no k to tune")
    upstream = prepare_upstream(corpora, profile, [variant], seed=seed)
    store = store_of(upstream.featurize)
    low, high = k_search_space(len(store.clips), profile.tune.k_max)
    inner = inner_fold(store.utterances, fold, protocol, folds_file)
    profile = profile.replace(train={"validation": "speakers"})  # as the ablation's k trials (experiments/trials.py)
    with tracking.step_run(f"tune-k-{variant.name}-fold{fold}", "tune_k",
                           tags={"paaan.variant": variant.name, "paaan.fold": str(fold)}, entry=True) as run:
        tracking.log_params({"variant": variant.name, "outer_fold": fold, "k_low": low, "k_high": high,
                           "trials": trials, "seed": seed, "protocol": protocol,
                           "inner_validation_sessions": ",".join(map(str, inner.test_sessions)),
                           **upstream.as_params()})

        def objective(trial: optuna.Trial) -> float:
            k = trial.suggest_int("k", low, high)
            with tracking.step_run(f"{variant.name}-fold{fold}-k{k}", "tune_k_trial", parent_run_id=run.info.run_id):
                result = train_and_log(variant, inner, seed, k, profile, upstream, want_attention=False,
                                       extra_params={"outer_fold": fold, "optuna_trial": trial.number},
                                       protocol=protocol, folds_file=folds_file)
            score = get_task(profile.train.task).selection  # uar, or the dimensional task's mean ccc
            mlflow.log_metrics({"trial_k": k, f"trial_val_{score}": result.metrics[score]}, step=trial.number)
            return result.metrics[score]

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=trials)
        mlflow.log_param("chosen_k", study.best_params["k"])
        mlflow.log_metric(f"best_val_{get_task(profile.train.task).selection}", study.best_value)
        print(f"{variant.name} fold {fold}: k = {study.best_params['k']} (inner validation UAR "
              f"{study.best_value:.3f} over {trials} trials)", flush=True)
        return run.info.run_id
