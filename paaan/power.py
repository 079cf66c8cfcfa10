"""Power curves: how often a testbed claim holds on fresh corpus draws, against the number of speakers.

A study is one demo corpus draw with five folds (``paaan.testbed``: seeds averaged within a fold, Student's t
over the folds). For a claim and a number of speakers, the testbed runs several draws and records, per
draw, the claim's outcome and its estimate, the per-fold differences' spread, and its trials' UARs. This
module turns those into the cells of the power table:

- ``held``: on how many draws the claim held (its outcome was the predicted one), and that share with its
  Wilson 95% interval (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``): the claim's own power
  at its planted effect;
- ``effect``: the mean of the draws' estimates with its Student-t 95% CI over the draws;
- ``fold_sd``: the standard deviation of a study's fold differences, pooled over the draws (the root of the
  mean within-draw variance): the noise a paired comparison of that many speakers meets;
- ``power_at_gain``: the power of the study's test (two-sided 5%, a 95% CI above 0) against a true gain
  ``gain`` with that noise: P(T' > t_{0.975, f - 1}) for T' noncentral t with f - 1 degrees of freedom and
  noncentrality gain / (fold_sd / sqrt(f)) over f folds (``scipy.stats.nct``);
- ``learned``: the share of the claim's variant's trials whose UAR reaches ``learned_uar`` (a trial that
  learned the gate), with its Wilson interval.

``speakers_needed`` reads, from the cells of one claim, the smallest number of speakers whose power against
``gain`` reaches 80%: the smallest measured one when one does; else, from the measured cells' fold_sd fitted
as c * speakers^(-b) (least squares on log-log), the smallest multiple of 10 whose predicted power does,
marked as extrapolated.

Pure numpy/scipy/pandas/matplotlib; ``experiments/testbed.py`` runs the draws and logs what this returns.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from paaan.report import save_figure  # noqa: E402

ALPHA = 0.05
TARGET_POWER = 0.8
POWER_COLUMNS = ["claim", "speakers", "draws", "held", "held_share", "held_ci_low", "held_ci_high", "effect",
                 "effect_ci_low", "effect_ci_high", "fold_sd", "folds", "power_at_gain", "gain", "learned_trials",
                 "trials", "learned_share", "learned_ci_low", "learned_ci_high"]


def wilson(successes: int, trials: int) -> tuple[float, float, float]:
    """(share, low, high): the share with its Wilson score 95% interval; NaN for no trials."""
    if trials <= 0:
        return math.nan, math.nan, math.nan
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method="wilson")
    return successes / trials, float(ci.low), float(ci.high)


def power_at(gain: float, fold_sd: float, folds: int, alpha: float = ALPHA) -> float:
    """The power of a paired t-test over ``folds`` fold differences (two-sided ``alpha``, counting only the
    right tail: a CI above 0) when the true gain is ``gain`` and the differences' sd is ``fold_sd``."""
    if folds < 2 or not np.isfinite(fold_sd):
        return math.nan
    if fold_sd <= 0:
        return 1.0 if gain > 0 else 0.0
    df = folds - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(critical, df, gain * math.sqrt(folds) / fold_sd))


def pooled_sd(per_draw_differences: list[np.ndarray]) -> float:
    """The root of the mean of the draws' sample variances (ddof 1) of their fold differences."""
    variances = [np.var(np.asarray(d, dtype=float), ddof=1) for d in per_draw_differences if len(d) >= 2]
    return float(math.sqrt(np.mean(variances))) if variances else math.nan


def power_cells(draws: pd.DataFrame, trials: pd.DataFrame, gain: float, learned_uar: float) -> pd.DataFrame:
    """The power table (``POWER_COLUMNS``), one row per (claim, speakers).

    ``draws``: one row per (claim, speakers, draw) with ``held`` (bool), ``estimate`` and ``differences``
    (the draw's fold differences, a list); ``trials``: one row per trial of a claim's first variant with
    claim, speakers, uar.
    """
    rows = []
    for (claim, speakers), group in draws.groupby(["claim", "speakers"], sort=True):
        held = int(group["held"].sum())
        share, low, high = wilson(held, len(group))
        effects = group["estimate"].to_numpy(dtype=float)
        effect = float(effects.mean())
        if len(effects) >= 2 and np.ptp(effects) > 0:
            ci = stats.ttest_1samp(effects, 0.0).confidence_interval(0.95)
            effect_low, effect_high = float(ci.low), float(ci.high)
        else:
            effect_low = effect_high = math.nan
        differences = [np.asarray(d, dtype=float) for d in group["differences"]]
        folds = int(np.median([len(d) for d in differences]))
        sd = pooled_sd(differences)
        mine = trials[(trials["claim"] == claim) & (trials["speakers"] == speakers)]
        learned = int((mine["uar"] >= learned_uar).sum())
        l_share, l_low, l_high = wilson(learned, len(mine))
        rows.append({"claim": claim, "speakers": int(speakers), "draws": len(group), "held": held,
                     "held_share": share, "held_ci_low": low, "held_ci_high": high, "effect": effect,
                     "effect_ci_low": effect_low, "effect_ci_high": effect_high, "fold_sd": sd, "folds": folds,
                     "power_at_gain": power_at(gain, sd, folds), "gain": gain, "learned_trials": learned,
                     "trials": len(mine), "learned_share": l_share, "learned_ci_low": l_low,
                     "learned_ci_high": l_high})
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def speakers_needed(cells: pd.DataFrame, gain: float, target: float = TARGET_POWER,
                    step: int = 10, limit: int = 2000) -> dict:
    """The smallest number of speakers whose power against ``gain`` reaches ``target`` (module docstring).

    ``cells``: one claim's rows of ``power_cells``. Returns speakers (None when even ``limit`` does not reach
    it), extrapolated (bool), the fit's exponent b and constant c (sd = c * speakers^-b), and folds.
    """
    cells = cells.sort_values("speakers")
    folds = int(cells["folds"].median())
    measured = cells[cells["power_at_gain"] >= target]
    usable = cells[np.isfinite(cells["fold_sd"]) & (cells["fold_sd"] > 0)]
    fit = {"b": math.nan, "c": math.nan}
    if len(usable) >= 2:
        slope, intercept = np.polyfit(np.log(usable["speakers"]), np.log(usable["fold_sd"]), 1)
        fit = {"b": float(-slope), "c": float(math.exp(intercept))}
    if len(measured):
        return {"speakers": int(measured["speakers"].iloc[0]), "extrapolated": False, **fit, "folds": folds}
    if not np.isfinite(fit["b"]) or fit["b"] <= 0:
        return {"speakers": None, "extrapolated": True, **fit, "folds": folds}
    start = int(cells["speakers"].max())
    for speakers in range(start - start % step + step, limit + 1, step):
        if power_at(gain, fit["c"] * speakers ** (-fit["b"]), folds) >= target:
            return {"speakers": speakers, "extrapolated": True, **fit, "folds": folds}
    return {"speakers": None, "extrapolated": True, **fit, "folds": folds}


def power_markdown(cells: pd.DataFrame, needed: dict[str, dict], gain: float, noise: str | None = None,
                   noise_is_null: bool = True) -> str:
    """The power table and, per claim, the speakers a study needs for ``gain`` at 80% power; ``noise``: the
    claim whose answer is the answer (best a predicted null, ``noise_is_null``: its fold sd is noise, not an
    effect that varies; a claim with an effect gives only an upper bound of the noise)."""
    lines = ["# Power: how many speakers a claim needs", "",
             "Per claim and number of speakers, over fresh corpus draws (each a study of five folds): on how many "
             "draws the claim held (Wilson 95% interval), its mean effect (t 95% CI over the draws), the fold "
             f"differences' pooled sd, the power of such a study against a true gain of {gain:+.3f} UAR with that "
             "sd (noncentral t), and the share of the variant's trials that learned the gate (Wilson).", "",
             "| claim | speakers | draws | held | held share (95% CI) | effect (95% CI) | fold sd | power at "
             f"{gain:+.3f} | learned (95% CI) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in cells.itertuples():
        effect = f"{r.effect:+.3f}" + (f" ({r.effect_ci_low:+.3f} to {r.effect_ci_high:+.3f})"
                                       if np.isfinite(r.effect_ci_low) else "")
        learned = (f"{r.learned_trials}/{r.trials} = {r.learned_share:.2f} ({r.learned_ci_low:.2f}-{r.learned_ci_high:.2f})"
                   if r.trials else "-")
        lines.append(f"| {r.claim} | {r.speakers} | {r.draws} | {r.held} | {r.held_share:.2f} ({r.held_ci_low:.2f}-"
                     f"{r.held_ci_high:.2f}) | {effect} | {r.fold_sd:.3f} | {r.power_at_gain:.2f} | {learned} |")
    lines += ["", f"Speakers a study needs before a gain of {gain:+.3f} UAR is resolvable at 80% power (five "
              "folds, one seed), read from each claim's fold sd:", ""]
    for claim, answer in needed.items():
        if answer["speakers"] is None:
            text = "not reached (the fold sd does not shrink with more speakers in the measured cells)"
        elif answer["extrapolated"]:
            text = (f"about {answer['speakers']} (extrapolated: no measured cell reaches 80%; fold sd fitted as "
                    f"{answer['c']:.3f} x speakers^-{answer['b']:.2f})")
        else:
            text = f"{answer['speakers']} (measured)"
        lines.append(f"- {claim}: {text}")
    if noise in needed:
        answer = needed[noise]
        why = ("a predicted null, so its fold differences are the noise a gain of "
               f"{gain:+.3f} has to stand out of, not an effect that varies" if noise_is_null else
               "not a predicted null: its fold sd also holds how the effect varies, so the noise is at most this "
               "and the answer an upper bound")
        lines += ["", f"The answer, read from {noise} ({why}): "
                  + ("not reached in the measured range" if answer["speakers"] is None else
                     f"{'about ' if answer['extrapolated'] else ''}{answer['speakers']} speakers"
                     + (" (extrapolated)" if answer["extrapolated"] else " (measured)")) + "."]
    return "\n".join(lines) + "\n"


def plot_power(cells: pd.DataFrame, path: str | Path, gain: float) -> Path:
    """Two panels against the number of speakers: each claim's holding share (Wilson 95%) and its study's power
    against ``gain`` (the dotted line: 80%)."""
    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for claim, group in cells.groupby("claim", sort=True):
        group = group.sort_values("speakers")
        x = group["speakers"].to_numpy()
        share = group["held_share"].to_numpy()
        axes[0].errorbar(x, share, yerr=[share - group["held_ci_low"], group["held_ci_high"] - share],
                         marker="o", capsize=3, label=claim)
        axes[1].plot(x, group["power_at_gain"], marker="o", label=claim)
    axes[0].set_title("share of draws on which the claim held (Wilson 95%)", fontsize=9)
    axes[1].set_title(f"power of a 5-fold study against a gain of {gain:+.3f} UAR", fontsize=9)
    for ax in axes:
        ax.set_xlabel("IEMOCAP speakers (two per session, five folds)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xscale("log")
        ticks = sorted(set(cells["speakers"]))
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    axes[1].axhline(TARGET_POWER, color="black", lw=0.8, ls=":")
    axes[0].legend(fontsize=7, loc="best")
    return save_figure(fig, path)
