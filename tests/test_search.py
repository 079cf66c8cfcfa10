"""The Tune searchers and schedulers paaan adds: finals after their grid, ASHA per tuning problem."""

from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from experiments.study import median_epochs
from experiments.search import GridThenFinals, PerProblemASHA


def test_a_variants_final_model_starts_when_its_grid_jobs_are_done_with_their_median_epoch():
    jobs = [{"variant": v, "fold": f, "seed": 0} for v in ("A", "B") for f in (1, 2, 3)]
    finals = [{"variant": "A", "fold": "all", "seed": 0}, {"variant": "B", "fold": "all", "seed": 0}]
    searcher = GridThenFinals(jobs, finals, epochs_of=median_epochs, default_epochs=40)
    handed = [searcher.suggest(f"t{i}")["job"] for i in range(6)]
    assert handed == jobs  # the grid first, in order
    assert searcher.suggest("t6") is None  # nothing is ready until a variant's grid jobs are done
    for i, best in zip(range(3), (7, 12, 9)):  # A's three folds chose epochs 7, 12, 9: median 9
        searcher.on_trial_complete(f"t{i}", {"best_epoch": best})
    assert searcher.suggest("t7") == {"job": {"variant": "A", "fold": "all", "seed": 0, "epochs": 9}}
    searcher.on_trial_complete("t3", {"best_epoch": 20})
    searcher.on_trial_complete("t4", error=True)  # failed after its retries: left out of the median
    assert searcher.suggest("t8") is None
    searcher.on_trial_complete("t5", {"best_epoch": 31})
    assert searcher.suggest("t9")["job"]["epochs"] == 25  # median of 20 and 31, rounded down
    assert searcher.suggest("t10") == Searcher.FINISHED


def test_median_epochs_by_hand():
    assert median_epochs([7.0, 12.0, 9.0]) == 9 and median_epochs([20.0, 31.0]) == 25
    assert median_epochs([float("nan"), 0.4]) == 1 and median_epochs([]) == 1


def test_asha_compares_a_trial_only_with_its_own_problem():
    scheduler = PerProblemASHA("best_val_uar", "max", max_t=50, grace_period=5, reduction_factor=4)
    trial = lambda tid, problem: SimpleNamespace(trial_id=tid, config={"problem": problem})  # noqa: E731
    easy_1, easy_2, hard = trial("e1", "easy"), trial("e2", "easy"), trial("h1", "hard")
    for t in (easy_1, easy_2, hard):
        scheduler.on_trial_add(None, t)
    assert scheduler.on_trial_result(None, easy_1, {"epoch": 5, "best_val_uar": 0.8}) == TrialScheduler.CONTINUE
    # a hard fold's first trial at 0.4 is not compared with the easy fold's 0.8: it continues
    assert scheduler.on_trial_result(None, hard, {"epoch": 5, "best_val_uar": 0.4}) == TrialScheduler.CONTINUE
    # within the easy problem, 0.6 at the first rung is below the best 1/4 of what reached it: stopped
    assert scheduler.on_trial_result(None, easy_2, {"epoch": 5, "best_val_uar": 0.6}) == TrialScheduler.STOP
    assert scheduler.stopped == {"e2"}
    # at max_t a trial ends by itself: never "stopped" there
    assert scheduler.on_trial_result(None, hard, {"epoch": 50, "best_val_uar": 0.1}) == TrialScheduler.CONTINUE
