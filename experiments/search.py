"""A Ray Tune searcher and scheduler that run one Optuna study and one ASHA bracket per tuning problem inside
a single Tuner.

k is tuned separately for every (variant, outer fold): many small, independent searches. Running each as
its own Tuner would start fresh trial actors (and import torch and mlflow again) per search and leave cores
idle while a short search waits for its last trial. ``PerProblemOptuna`` keeps one ``OptunaSearch`` (TPE,
seeded) per problem and hands out their suggestions round-robin, so all problems share one Tuner, its
reused actors and every core, while each problem's study sees only its own trials. ``PerProblemASHA`` does
the same for early stopping: one ``AsyncHyperBandScheduler`` per problem, so a trial is only ever compared
with trials of its own (variant, fold), whose validation speakers are the same (folds differ in how hard
their speakers are: one ASHA over all problems would prune the trials of hard folds).
"""

from __future__ import annotations

import math

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch


class PerProblemASHA(FIFOScheduler):
    """ASHA per ``trial.config["problem"]``: rungs at grace_period * reduction_factor^i epochs (``time_attr``)."""

    def __init__(self, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: int,
                 time_attr: str = "epoch"):
        super().__init__()
        self._metric, self._mode = metric, mode
        self.settings = dict(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
                             grace_period=min(grace_period, max_t), reduction_factor=reduction_factor)
        self.brackets: dict[str, AsyncHyperBandScheduler] = {}
        self.stopped: set[str] = set()  # trial ids this scheduler stopped early

    def _for(self, trial) -> AsyncHyperBandScheduler:
        problem = trial.config.get("problem", "")
        if problem not in self.brackets:
            self.brackets[problem] = AsyncHyperBandScheduler(**self.settings)
        return self.brackets[problem]

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # fixed at construction: the profile's tune section names them

    def on_trial_add(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if self.settings["time_attr"] not in result or self._metric not in result:
            return TrialScheduler.CONTINUE  # e.g. a reused trial's single report
        if result[self.settings["time_attr"]] >= self.settings["max_t"]:
            return TrialScheduler.CONTINUE  # ASHA would "stop" a trial at max_t: it ends by itself, reporting
        decision = self._for(trial).on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP:
            self.stopped.add(trial.trial_id)
        return decision

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if result and self._metric in result and self.settings["time_attr"] in result:
            self._for(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return f"ASHA per tuning problem ({len(self.brackets)} problems, {len(self.stopped)} trials stopped early)"


class PerProblemOptuna(Searcher):
    """``problems``: name -> fixed config of that problem (e.g. variant, fold); ``space``: Optuna distributions.

    Each suggested config is the problem's fixed config, the problem's Optuna suggestion and
    ``{"problem": name}``. ``trials_per_problem`` suggestions per problem; at most ``concurrent_per_problem``
    of a problem's trials run at once (TPE learns from finished trials).
    """

    def __init__(self, problems: dict[str, dict], space: dict, metric: str, mode: str, trials_per_problem: int,
                 seed: int = 0, concurrent_per_problem: int = 1):
        super().__init__(metric=metric, mode=mode)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.problems = dict(problems)
        self.searchers = {
            name: OptunaSearch(space=space, metric=metric, mode=mode,
                               sampler=optuna.samplers.TPESampler(seed=seed + i))
            for i, name in enumerate(self.problems)
        }
        self.remaining = {name: int(trials_per_problem) for name in self.problems}
        self.running = {name: 0 for name in self.problems}
        self.concurrent_per_problem = concurrent_per_problem
        self.owner: dict[str, str] = {}

    def suggest(self, trial_id: str):
        ready = [p for p in self.problems if self.remaining[p] > 0 and self.running[p] < self.concurrent_per_problem]
        if not ready:
            return Searcher.FINISHED if not any(self.remaining.values()) else None
        name = min(ready, key=lambda p: (self.running[p], -self.remaining[p]))
        suggestion = self.searchers[name].suggest(trial_id)
        self.remaining[name] -= 1
        self.running[name] += 1
        self.owner[trial_id] = name
        return {**self.problems[name], **suggestion, "problem": name}

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: an interrupted ablation resumes from its finished MLflow runs, not from Tune."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        name = self.owner.pop(trial_id, None)
        if name is None:
            return
        self.running[name] -= 1
        self.searchers[name].on_trial_complete(trial_id, result=result, error=error)


class GridThenFinals(Searcher):
    """The grid's jobs, then each variant's model of every utterance as soon as that variant's grid jobs are done.

    One Tuner for both, so the finals need no second start-up and fill the cores the grid's tail leaves idle.
    A final job gets ``epochs`` = ``epochs_of(best epochs of the variant's finished grid trials)`` (trials that
    failed after their retries are left out; with none at all, ``default_epochs``).
    """

    def __init__(self, jobs: list[dict], finals: list[dict], epochs_of, default_epochs: int):
        super().__init__(metric=None, mode=None)
        self.pending = list(jobs)
        self.finals = {job["variant"]: dict(job) for job in finals}
        self.waiting = {variant: 0 for variant in self.finals}
        for job in jobs:
            if job["variant"] in self.waiting:
                self.waiting[job["variant"]] += 1
        self.best: dict[str, list[float]] = {variant: [] for variant in self.finals}
        self.epochs_of, self.default_epochs = epochs_of, default_epochs
        self.owner: dict[str, dict] = {}
        self.released: set[str] = set()

    def suggest(self, trial_id: str):
        if self.pending:
            job = self.pending.pop(0)
        else:
            ready = [v for v in self.finals if v not in self.released and self.waiting[v] == 0]
            if not ready:
                return Searcher.FINISHED if len(self.released) == len(self.finals) else None
            variant = ready[0]
            self.released.add(variant)
            epochs = self.epochs_of(self.best[variant]) if self.best[variant] else self.default_epochs
            job = {**self.finals[variant], "epochs": int(epochs)}
        self.owner[trial_id] = job
        return {"job": job}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        job = self.owner.pop(trial_id, None)
        if job is None or job.get("fold") == "all" or job["variant"] not in self.waiting:
            return
        self.waiting[job["variant"]] -= 1
        if not error and result and math.isfinite(result.get("best_epoch", math.nan)):
            self.best[job["variant"]].append(float(result["best_epoch"]))

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: an interrupted ablation resumes from its finished MLflow runs, not from Tune."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``."""
