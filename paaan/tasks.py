"""The tasks as data: what a network predicts, how it is trained, what picks its best epoch. One row each.

- ``categorical`` (the paper's): four logits (``EMOTIONS``), cross-entropy (plus a family's own loss terms,
  Prev1's embedding loss), the best epoch and early stopping on the validation UAR.
- ``dimensional`` (ours, beyond the paper): IEMOCAP's valence, activation (arousal) and dominance ratings on
  their 1-5 scales (``DIMENSIONS``), one head of three outputs after the same fusion as the categorical head,
  trained with 1 - the mean over the three dimensions of the batch's concordance correlation coefficient
  (CCC, Lin 1989; the loss of the AVEC challenges and of PA-IEMOCAP), the best epoch and early stopping on
  the mean validation CCC. The network predicts ``rating - center`` (3, the scales' midpoint), so that
  an untrained head's zero output sits in the middle of the scale; served ratings add it back. Every
  variant runs it: the families differ before the head, and the head only changes its width. Prev1's
  embedding loss pulls utterances of one *class* together and is not used (there are no classes to pull).

Which utterances: the dimensional task reads the same feature store as the categorical one, the four
classes' utterances (IEMOCAP's 5531 on the real corpus), so both Table I's score the same utterances under
the same folds, SHLA and retrieval, and no second featurization is needed. The other labels' utterances
(frustration, surprise, ...) have ratings too; scoring them as well is a different corpus for the two tables.

Per-epoch records use the task's names: ``val_uar`` / ``best_val_uar`` (categorical, as before) or
``val_ccc`` / ``best_val_ccc`` and ``val_ccc_<dimension>`` (dimensional); ``tune_metric`` maps the profile's
``tune.metric`` (written for UAR) onto the task's score, so ASHA prunes the dimensional k search on the CCC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paaan.data.schema import DIMENSIONS, EMOTIONS
from paaan.errors import row_of
from paaan.metrics import dimensional_scores, scores


@dataclass(frozen=True)
class Task:
    name: str
    targets: tuple[str, ...]  # what the outputs are: the class names or the rating dimensions
    selection: str  # the validation score that picks the best epoch: "uar" or "ccc" (higher is better)
    metrics: tuple[str, ...]  # the test scores a trial logs and the ablation tabulates, main score first
    description: str
    center: float = 0.0  # regression targets are predicted as value - center

    @property
    def outputs(self) -> int:
        return len(self.targets)

    @property
    def regression(self) -> bool:
        return self.name == "dimensional"

    @property
    def val_metric(self) -> str:
        return f"val_{self.selection}"

    @property
    def best_metric(self) -> str:
        return f"best_val_{self.selection}"

    def tune_metric(self, profile_metric: str) -> str:
        """The profile's ``tune.metric`` (``best_val_uar``, ``val_uar``) for this task's score."""
        return profile_metric.replace("uar", self.selection)

    def score(self, truth: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Test or validation scores of network outputs: (n, 4) class probabilities against (n,) class indices,
        or (n, 3) centred predictions against (n, 3) centred ratings."""
        if self.regression:
            return dimensional_scores(truth, outputs)
        return scores(truth, outputs.argmax(1))


CATEGORICAL = Task(
    "categorical", EMOTIONS, "uar",
    ("uar", "wa", "f1_macro", *(f"recall_{e}" for e in EMOTIONS)),
    "the paper's 4-class task: ang, hap (with exc), neu, sad; UAR")
DIMENSIONAL = Task(
    "dimensional", DIMENSIONS, "ccc",
    ("ccc", *(f"{m}_{d}" for m in ("ccc", "r", "rmse") for d in DIMENSIONS)),
    "valence, activation and dominance on IEMOCAP's 1-5 scales; CCC (main), Pearson r, RMSE", center=3.0)

TASKS: tuple[Task, ...] = (CATEGORICAL, DIMENSIONAL)
BY_NAME: dict[str, Task] = {t.name: t for t in TASKS}


def get_task(name: str) -> Task:
    return row_of(BY_NAME, name, "task")


def ccc_loss(predictions: torch.Tensor, targets: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1 - the mean over dimensions of the batch's CCC: (B, D) predictions and targets -> a scalar.

    Population moments, as ``paaan.metrics.ccc``: 2 cov / (var_p + var_t + (mean_p - mean_t)^2) per column;
    ``eps`` keeps a batch whose predictions and targets are all equal finite (its CCC is then 0).
    """
    mean_p, mean_t = predictions.mean(0), targets.mean(0)  # (D,)
    dp, dt = predictions - mean_p, targets - mean_t  # (B, D)
    cov = (dp * dt).mean(0)
    denominator = dp.pow(2).mean(0) + dt.pow(2).mean(0) + (mean_p - mean_t).pow(2)
    return 1.0 - (2.0 * cov / (denominator + eps)).mean()
