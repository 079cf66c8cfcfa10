"""A Ray Tune searcher that runs one Optuna study per tuning problem inside a single Tuner.

k is tuned separately for every (variant, outer fold): many small, independent searches. Running each as
its own Tuner would start fresh trial actors (and import torch and mlflow again) per search and leave cores
idle while a short search waits for its last trial. ``PerProblemOptuna`` keeps one ``OptunaSearch`` (TPE,
seeded) per problem and hands out their suggestions round-robin, so all problems share one Tuner, its
reused actors and every core, while each problem's study sees only its own trials.
"""

from __future__ import annotations

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch


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
