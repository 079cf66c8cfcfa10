"""Table I from per-fold results: scores over folds x seeds, confidence intervals, paired tests, the figures.

Pure pandas/scipy/matplotlib: ``experiments/ablation.py`` and ``experiments/testbed.py`` feed it the trials'
metrics and predictions and log what it returns.

The statistics, and why. Every (variant, fold, seed) trial gives one UAR. Seeds of one fold share its test
speakers and its training data, so they are not independent replicates of the fold: a (fold, seed) cell
count would overstate the evidence. So every interval and test here treats the fold as the unit: first the
mean over the fold's seeds, then Student's t over the folds (df = folds - 1). A paired comparison pairs
the two variants' cells on (fold, seed), averages the differences over seeds within each fold, and tests
the fold means against 0 (``scipy.stats.ttest_1samp``; its ``confidence_interval``). The p-values of the
comparisons one report makes are Holm-corrected together (``holm``). Seeds still matter: they shrink the
training noise inside every fold mean.

The dimensional Table I (valence, activation, dominance scored by CCC, ``paaan.metrics``) uses the same
statistics: ``summarize_dimensional`` and ``dimensional_comparisons`` are ``summarize`` and
``baseline_comparisons`` over the CCC columns, with Holm over every (comparison, dimension) row together.
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

from paaan.data.schema import DIMENSIONS, EMOTIONS  # noqa: E402
from paaan.metrics import confusion, f1_macro, per_class_recall, uar, weighted_accuracy  # noqa: E402
from paaan.variants import BY_NAME  # noqa: E402

LABEL_INDEX = {e: i for i, e in enumerate(EMOTIONS)}
SYNTHETIC_NOTE = ("Our numbers come from the synthetic demo corpus (speech synthesised with espeak-ng and a "
                  "planted personality effect), not from IEMOCAP: they test the pipeline and the paper's "
                  "claims on a controlled testbed and are not comparable with the paper's numbers.")


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t confidence interval of the mean (NaN bounds for fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def fold_means(results: pd.DataFrame, metric: str = "uar") -> pd.Series:
    """The metric per fold, averaged over that fold's seeds (fold order)."""
    return results.groupby("fold", sort=True)[metric].mean()


def holm(pvalues) -> np.ndarray:
    """Holm's step-down correction of a family of p-values (same order as given).

    Sorted ascending, the i-th smallest (i = 0, 1, ...) is multiplied by (m - i), a running maximum keeps the
    order, and values are capped at 1: p = (0.01, 0.04, 0.03, 0.005) -> (0.03, 0.06, 0.06, 0.02). NaN stays
    NaN and does not count in m. (scipy.stats has no Holm; this is its textbook definition.)
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        out[index] = running
    return out


def pooled_scores(predictions: pd.DataFrame) -> dict[str, float]:
    """UAR, WA, macro-F1 and per-class recall over all folds' predictions of one variant, averaged over seeds."""
    per_seed = []
    for _, group in predictions.groupby("seed"):
        y_true = group["label"].map(LABEL_INDEX).to_numpy()
        y_pred = group["prediction"].map(LABEL_INDEX).to_numpy()
        per_seed.append({"uar": uar(y_true, y_pred), "wa": weighted_accuracy(y_true, y_pred),
                         "f1_macro": f1_macro(y_true, y_pred),
                         **{f"recall_{e}": r for e, r in per_class_recall(y_true, y_pred).items()}})
    return pd.DataFrame(per_seed).mean().to_dict() if per_seed else {}


def pooled_confusion(predictions: pd.DataFrame) -> np.ndarray:
    """(4, 4) counts over every fold and seed of one variant: rows true, columns predicted (EMOTIONS order)."""
    return confusion(predictions["label"].map(LABEL_INDEX).to_numpy(),
                     predictions["prediction"].map(LABEL_INDEX).to_numpy())


def summarize(results: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant (in variants-table order): scores over folds x seeds and the paper's Table I row.

    ``results``: one row per (variant, fold, seed) with uar, wa, f1_macro, recall_<emotion>; ``predictions``:
    one row per test utterance with variant, fold, seed, label, prediction (for the pooled scores). ``_mean``
    is the mean over all cells; ``_std`` the population std over the fold means (over folds, as Table I
    reports it); the 95% CI is over the fold means (module docstring).
    """
    rows = []
    order = [v for v in BY_NAME if v in set(results["variant"])]
    for name in order:
        group = results[results["variant"] == name]
        row = {"variant": name, "n": len(group), "folds": group["fold"].nunique(), "seeds": group["seed"].nunique()}
        for metric in ("uar", "wa", "f1_macro"):
            if metric not in group:
                continue
            per_fold = fold_means(group, metric)
            _, low, high = mean_ci(per_fold)
            row |= {f"{metric}_mean": float(group[metric].mean()), f"{metric}_std": float(per_fold.std(ddof=0)),
                    f"{metric}_ci_low": low, f"{metric}_ci_high": high}
        for e in EMOTIONS:
            row[f"recall_{e}_mean"] = float(group[f"recall_{e}"].mean())
        if predictions is not None and len(predictions):
            pooled = pooled_scores(predictions[predictions["variant"] == name])
            for metric in ("uar", "wa", "f1_macro"):
                row[f"{metric}_pooled"] = pooled.get(metric, math.nan)
            for e in EMOTIONS:
                row[f"recall_{e}_pooled"] = pooled.get(f"recall_{e}", math.nan)
        paper = BY_NAME[name].paper or {}
        row["paper_uar"] = paper.get("uar", math.nan)
        for e in EMOTIONS:
            row[f"paper_recall_{e}"] = paper.get(e, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_comparison(results: pd.DataFrame, a: str = "PAaAN_PP", b: str = "IA+T", metric: str = "uar",
                      level: float = 0.95) -> dict | None:
    """a against b, paired on (fold, seed), tested over folds (module docstring); None without 2 shared folds.

    Returns the cells and folds paired, the mean difference over the cells, its CI and the two-sided p of
    the one-sample t-test of the fold mean differences against 0, and in how many cells a was better.
    """
    left = results[results["variant"] == a].set_index(["fold", "seed"])[metric]
    right = results[results["variant"] == b].set_index(["fold", "seed"])[metric]
    both = left.index.intersection(right.index)
    diff = (left.loc[both] - right.loc[both]).rename("difference").reset_index()
    per_fold = diff.groupby("fold")["difference"].mean()
    if len(per_fold) < 2:
        return None
    values = per_fold.to_numpy()
    if np.all(values == values[0]):  # no spread: the t statistic is undefined; a constant 0 is no evidence
        low = high = float(values[0])
        p = 1.0 if values[0] == 0 else 0.0
    else:
        test = stats.ttest_1samp(values, 0.0)
        ci = test.confidence_interval(level)
        low, high, p = float(ci.low), float(ci.high), float(test.pvalue)
    return {"a": a, "b": b, "metric": metric, "pairs": int(len(both)), "folds": int(len(per_fold)),
            "seeds": int(diff["seed"].nunique()), "mean_difference": float(diff["difference"].mean()),
            "ci_low": low, "ci_high": high, "t_test_p": p, "a_better": int((diff["difference"] > 0).sum())}


COMPARISON_COLUMNS = ["a", "b", "metric", "pairs", "folds", "seeds", "mean_difference", "ci_low", "ci_high",
                      "t_test_p", "a_better"]


def _baseline_pairs(results: pd.DataFrame) -> list[tuple[str, str]]:
    """(personality variant, its same-score baseline) for every such pair in ``results``, variants-table order."""
    present = set(results["variant"])
    return [(name, BY_NAME[name].baseline) for name in BY_NAME
            if name in present and BY_NAME[name].baseline in present]


def _comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The comparisons as a table, their p-values Holm-corrected together (``p_holm``): one family."""
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    table["p_holm"] = holm(table["t_test_p"]) if len(table) else []
    return table


def baseline_comparisons(results: pd.DataFrame, metric: str = "uar") -> pd.DataFrame:
    """Every personality variant in ``results`` against its same-score baseline (the variants table's
    ``baseline``) when both ran, with Holm-corrected p-values over these comparisons (``p_holm``)."""
    rows = [paired_comparison(results, name, baseline, metric) for name, baseline in _baseline_pairs(results)]
    return _comparison_table([c for c in rows if c])


BEST_RULE = ("the variant with the highest mean score (UAR; the dimensional task: mean CCC), named only when its "
             "paired difference in it from every other "
             "candidate (over folds, seeds averaged within a fold) has a 95% CI above 0 and a Holm-corrected p "
             "(over those comparisons) below 0.05; otherwise none: the others are not resolved from it")


def best_variant(results: pd.DataFrame, candidates, metric: str = "uar", alpha: float = 0.05) -> dict:
    """The best of ``candidates`` by ``metric`` when the data resolve it (``BEST_RULE``), else none.

    Returns ``best`` (a name, or None), ``top`` (the highest mean, resolved or not), ``unresolved`` (the
    candidates the top is not resolved from, best first by mean) and ``comparisons`` (top - other: mean
    difference, CI, p, Holm p). A one-seed difference of a few hundredths moves with the CPU's instruction
    set and the seed (README), and a top named on it would move with them; this rule names one only when
    its lead over every other is outside the fold-to-fold noise of this very study.
    """
    present = [c for c in candidates if c in set(results["variant"])]
    if not present:
        return {"best": None, "top": None, "unresolved": [], "comparisons": [], "rule": BEST_RULE}
    means = results[results["variant"].isin(present)].groupby("variant")[metric].mean()
    top = str(means.idxmax())
    rows = [c for c in (paired_comparison(results, top, other, metric) for other in present if other != top) if c]
    p_holm = holm([c["t_test_p"] for c in rows]) if rows else []
    comparisons = [{"a": c["a"], "b": c["b"], "mean_difference": c["mean_difference"], "ci_low": c["ci_low"],
                    "ci_high": c["ci_high"], "p": c["t_test_p"], "p_holm": float(p)} for c, p in zip(rows, p_holm)]
    unresolved = [c["b"] for c in comparisons if not (c["ci_low"] > 0 and c["p_holm"] < alpha)]
    unresolved = sorted(unresolved, key=lambda v: -means[v])
    missing = len(rows) < len(present) - 1  # a candidate without two shared folds cannot be told apart
    best = top if not unresolved and not missing else None
    return {"best": best, "top": top, "unresolved": unresolved, "comparisons": comparisons, "rule": BEST_RULE}


def table1_markdown(summary: pd.DataFrame, synthetic: bool, comparisons: pd.DataFrame | None = None,
                    split: str = "") -> str:
    """Table I as Markdown: recall per class beside the paper's, UAR, WA and macro-F1, then the comparisons.
    ``split``: a sentence on how the folds were made (``paaan.data.folds.describe_protocol``)."""
    lines = ["# Table I: 4-class emotion recognition, ours beside the paper's", ""]
    if split:
        lines += [f"**Folds.** {split}", ""]
    if synthetic:
        lines += [f"> **Note.** {SYNTHETIC_NOTE}", ""]
    header = ("| variant | " + " | ".join(f"{e} (paper)" for e in EMOTIONS)
              + " | UAR mean ± std (95% CI) | WA mean ± std | macro-F1 mean ± std | pooled UAR / WA / F1 | paper UAR | runs |")
    lines += [header, "|" + "---|" * (len(EMOTIONS) + 7)]
    for row in summary.itertuples():
        cells = [f"{getattr(row, f'recall_{e}_mean'):.3f} ({_fmt(getattr(row, f'paper_recall_{e}'))})" for e in EMOTIONS]
        ci = f" ({row.uar_ci_low:.3f}-{row.uar_ci_high:.3f})" if np.isfinite(row.uar_ci_low) else ""
        pooled = " / ".join(_fmt(getattr(row, f"{m}_pooled", math.nan)) for m in ("uar", "wa", "f1_macro"))
        lines.append(f"| {row.variant} | " + " | ".join(cells)
                     + f" | {row.uar_mean:.3f} ± {row.uar_std:.3f}{ci} | {_pm(row, 'wa')} | {_pm(row, 'f1_macro')} "
                     f"| {pooled} | {_fmt(row.paper_uar)} | {row.n} |")
    lines += ["", "Recall per class is the mean over folds and seeds; UAR = mean of the per-class recalls "
              "(unweighted average recall), WA = accuracy, macro-F1 = mean of the per-class F1; ± is the std over "
              "the fold means; pooled scores are computed over all folds' predictions at once. The 95% CI is "
              "Student's t over the fold means (seeds averaged within each fold)."]
    if comparisons is not None and len(comparisons):
        lines += ["", "**Each personality variant against its same-score baseline** (paired on fold and seed, "
                  "tested over the fold means; p Holm-corrected over these comparisons):", "",
                  "| comparison | UAR difference | 95% CI | p | p (Holm) | better in |", "|---|---|---|---|---|---|"]
        for c in comparisons.itertuples():
            lines.append(f"| {c.a} - {c.b} | {c.mean_difference:+.3f} | {_fmt(c.ci_low)} to {_fmt(c.ci_high)} | "
                         f"{c.t_test_p:.3g} | {c.p_holm:.3g} | {c.a_better} of {c.pairs} |")
        if "PAaAN_PP" in set(comparisons["a"]):
            lines += ["", "The paper reports PAaAN_PP - IA+T = +0.034 UAR (0.700 vs 0.666) without a test."]
    return "\n".join(lines) + "\n"


def _pm(row, metric: str) -> str:
    mean, std = getattr(row, f"{metric}_mean", math.nan), getattr(row, f"{metric}_std", math.nan)
    return f"{mean:.3f} ± {std:.3f}" if np.isfinite(mean) else "-"


def save_figure(fig, path: str | Path) -> Path:
    """Lay the figure out, write it to ``path`` (the format from the suffix) and close it."""
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, title: str, path: str | Path) -> Path:
    """A confusion matrix as a picture: rows true, columns predicted, shaded by the row share (each cell shows
    its count and its share of the true class)."""
    path = Path(path)
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=120)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(4), EMOTIONS)
    ax.set_yticks(range(4), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def confusion_frame(matrix: np.ndarray, normalise: bool = False) -> pd.DataFrame:
    """The matrix as a labelled table (rows true, columns predicted); ``normalise``: shares of each true class."""
    matrix = np.asarray(matrix, dtype=float)
    if normalise:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    return pd.DataFrame(matrix, index=pd.Index(EMOTIONS, name="true"), columns=EMOTIONS)


def _fmt(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


def table1_chart(summary: pd.DataFrame, path: str | Path, synthetic: bool) -> Path:
    """Grouped bars: our UAR (mean, with the 95% CI) beside the paper's, per variant."""
    path = Path(path)
    x = np.arange(len(summary))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(summary) + 2), 4.2), dpi=120)
    low = (summary["uar_mean"] - summary["uar_ci_low"]).fillna(0).clip(lower=0)
    high = (summary["uar_ci_high"] - summary["uar_mean"]).fillna(0).clip(lower=0)
    ax.bar(x - 0.2, summary["uar_mean"], 0.4, yerr=[low, high], capsize=3, label="ours (mean, 95% CI)", color="#3b75af")
    ax.bar(x + 0.2, summary["paper_uar"].fillna(0), 0.4, label="paper (Table I)", color="#f0a04b")
    ax.axhline(0.25, color="grey", lw=0.8, ls=":", label="chance (0.25)")
    ax.set_xticks(x, summary["variant"], rotation=30, ha="right")
    ax.set_ylabel("UAR")
    ax.set_ylim(0, 1)
    title = "Table I: UAR per variant"
    if synthetic:
        title += " (ours: synthetic demo corpus, not IEMOCAP)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)


# The dimensional Table I: the columns ``paaan.metrics.dimensional_scores`` writes per trial.
DIMENSIONAL_METRICS: tuple[str, ...] = ("ccc", *(f"ccc_{d}" for d in DIMENSIONS), *(f"r_{d}" for d in DIMENSIONS),
                                        *(f"rmse_{d}" for d in DIMENSIONS))
# What dimensional_comparisons tests: each dimension's CCC, then their mean.
DIMENSIONAL_TESTED: tuple[str, ...] = (*(f"ccc_{d}" for d in DIMENSIONS), "ccc")


def summarize_dimensional(results: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (variants-table order) of the dimensional task, with ``summarize``'s statistics.

    ``results``: one row per (variant, fold, seed) with any of DIMENSIONAL_METRICS (a missing one is skipped).
    Per metric: ``_mean`` over all cells, ``_std`` the population std over the fold means, ``_ci_low`` and
    ``_ci_high`` Student's t over the fold means (module docstring).
    """
    rows = []
    for name in [v for v in BY_NAME if v in set(results["variant"])]:
        group = results[results["variant"] == name]
        row = {"variant": name, "n": len(group), "folds": group["fold"].nunique(), "seeds": group["seed"].nunique()}
        for metric in DIMENSIONAL_METRICS:
            if metric not in group:
                continue
            per_fold = fold_means(group, metric)
            _, low, high = mean_ci(per_fold)
            row |= {f"{metric}_mean": float(group[metric].mean()), f"{metric}_std": float(per_fold.std(ddof=0)),
                    f"{metric}_ci_low": low, f"{metric}_ci_high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def dimensional_comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """Every personality variant against its same-score baseline on each dimension's CCC and on the mean CCC:
    one row per (comparison, metric), ``baseline_comparisons``' columns, Holm over all these rows together
    (one family: a report that names a dimension where the personality helps has looked at all of them)."""
    metrics = [m for m in DIMENSIONAL_TESTED if m in results]
    rows = [paired_comparison(results, name, baseline, metric)
            for name, baseline in _baseline_pairs(results) for metric in metrics]
    return _comparison_table([c for c in rows if c])


def _dimension(metric: str) -> str:
    return "mean of the three" if metric == "ccc" else metric.removeprefix("ccc_")


def _pm_ci(row, metric: str) -> str:
    """``mean ± std (low to high)`` of one summary cell, ``-`` where the metric was not run."""
    mean, std = getattr(row, f"{metric}_mean", math.nan), getattr(row, f"{metric}_std", math.nan)
    if not np.isfinite(mean):
        return "-"
    low, high = getattr(row, f"{metric}_ci_low", math.nan), getattr(row, f"{metric}_ci_high", math.nan)
    ci = f" ({low:.3f} to {high:.3f})" if np.isfinite(low) else ""
    return f"{mean:.3f} ± {std:.3f}{ci}"


def table1_dimensional_markdown(summary: pd.DataFrame, synthetic: bool,
                                comparisons: pd.DataFrame | None = None, split: str = "") -> str:
    """The dimensional Table I as Markdown: CCC per dimension and their mean, r and RMSE, then the comparisons."""
    lines = ["# Table I, dimensional: valence, activation and dominance (CCC)", ""]
    if split:
        lines += [f"**Folds.** {split}", ""]
    if synthetic:
        lines += [f"> **Note.** {SYNTHETIC_NOTE}", ""]
    lines += ["| variant | " + " | ".join(f"CCC {d} mean ± std (95% CI)" for d in DIMENSIONS)
              + " | mean CCC | r V / A / D | RMSE V / A / D | runs |", "|" + "---|" * (len(DIMENSIONS) + 5)]
    for row in summary.itertuples():
        r = " / ".join(_fmt(getattr(row, f"r_{d}_mean", math.nan)) for d in DIMENSIONS)
        error = " / ".join(_fmt(getattr(row, f"rmse_{d}_mean", math.nan)) for d in DIMENSIONS)
        lines.append(f"| {row.variant} | " + " | ".join(_pm_ci(row, f"ccc_{d}") for d in DIMENSIONS)
                     + f" | {_pm_ci(row, 'ccc')} | {r} | {error} | {row.n} |")
    lines += ["", "CCC is Lin's concordance correlation coefficient between the ratings (IEMOCAP's 1-5 scale) and the "
              "predictions: 2 cov / (var_true + var_pred + (mean_true - mean_pred)^2), 1 for perfect agreement, 0 "
              "for none, -1 for perfect reversal; unlike Pearson's r it falls when the predictions are shifted or "
              "rescaled. Mean CCC is the mean of the three. Each cell is the mean over folds and seeds; ± is the std "
              "over the fold means and the 95% CI Student's t over the fold means (seeds averaged within each fold). "
              "r is Pearson's correlation and RMSE the root mean squared error in rating points, means over folds and "
              "seeds."]
    if comparisons is not None and len(comparisons):
        lines += ["", "**Each personality variant against its same-score baseline, per dimension** (CCC, paired on "
                  "fold and seed, tested over the fold means; p Holm-corrected over all the rows of this table):", "",
                  "| comparison | dimension | CCC difference | 95% CI | p | p (Holm) | better in |",
                  "|---|---|---|---|---|---|---|"]
        for c in comparisons.itertuples():
            lines.append(f"| {c.a} - {c.b} | {_dimension(c.metric)} | {c.mean_difference:+.3f} | {_fmt(c.ci_low)} to "
                         f"{_fmt(c.ci_high)} | {c.t_test_p:.3g} | {c.p_holm:.3g} | {c.a_better} of {c.pairs} |")
    return "\n".join(lines) + "\n"


def table1_dimensional_chart(summary: pd.DataFrame, path: str | Path, synthetic: bool) -> Path:
    """Grouped bars: the CCC of valence, activation and dominance (mean, with the 95% CI) per variant."""
    path = Path(path)
    x = np.arange(len(summary))
    width = 0.8 / len(DIMENSIONS)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(summary) + 2), 4.2), dpi=120)
    lowest = 0.0
    for i, (d, color) in enumerate(zip(DIMENSIONS, ("#3b75af", "#f0a04b", "#5a9e6f"))):
        mean = summary.get(f"ccc_{d}_mean", pd.Series(np.nan, index=summary.index))
        low = (mean - summary.get(f"ccc_{d}_ci_low", mean)).fillna(0).clip(lower=0)
        high = (summary.get(f"ccc_{d}_ci_high", mean) - mean).fillna(0).clip(lower=0)
        ax.bar(x + (i - (len(DIMENSIONS) - 1) / 2) * width, mean.fillna(0), width, yerr=[low, high], capsize=3,
               label=f"{d} (mean, 95% CI)", color=color)
        lowest = min(lowest, float((mean - low).min()) if mean.notna().any() else 0.0)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, summary["variant"], rotation=30, ha="right")
    ax.set_ylabel("CCC")
    ax.set_ylim(max(-1.0, lowest - 0.05), 1)
    title = "Table I, dimensional: CCC per variant and dimension"
    if synthetic:
        title += " (synthetic demo corpus, not IEMOCAP)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)
