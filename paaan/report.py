"""Table I from per-fold results: fold-aggregated scores, confidence intervals, a paired test, the figure.

Pure pandas/scipy/matplotlib: ``experiments/ablation.py`` feeds it the trials' metrics and predictions and
logs what it returns.
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

from paaan.data.schema import EMOTIONS  # noqa: E402
from paaan.metrics import per_class_recall, uar  # noqa: E402
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


def pooled_scores(predictions: pd.DataFrame) -> dict[str, float]:
    """UAR and per-class recall over all folds' predictions of one variant, averaged over seeds."""
    per_seed = []
    for _, group in predictions.groupby("seed"):
        y_true = group["label"].map(LABEL_INDEX).to_numpy()
        y_pred = group["prediction"].map(LABEL_INDEX).to_numpy()
        per_seed.append({"uar": uar(y_true, y_pred), **{f"recall_{e}": r for e, r in per_class_recall(y_true, y_pred).items()}})
    return pd.DataFrame(per_seed).mean().to_dict() if per_seed else {}


def summarize(results: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant (in variants-table order): fold-aggregated scores and the paper's Table I row.

    ``results``: one row per (variant, fold, seed) with uar, wa, recall_<emotion>; ``predictions``: one row
    per test utterance with variant, fold, seed, label, prediction (for the pooled scores).
    """
    rows = []
    order = [v for v in BY_NAME if v in set(results["variant"])]
    for name in order:
        group = results[results["variant"] == name]
        mean, low, high = mean_ci(group["uar"])
        row = {"variant": name, "n": len(group), "folds": group["fold"].nunique(), "seeds": group["seed"].nunique(),
               "uar_mean": mean, "uar_std": float(group["uar"].std(ddof=0)), "uar_ci_low": low, "uar_ci_high": high,
               "wa_mean": float(group["wa"].mean())}
        for e in EMOTIONS:
            row[f"recall_{e}_mean"] = float(group[f"recall_{e}"].mean())
        if predictions is not None and len(predictions):
            pooled = pooled_scores(predictions[predictions["variant"] == name])
            row["uar_pooled"] = pooled.get("uar", math.nan)
            for e in EMOTIONS:
                row[f"recall_{e}_pooled"] = pooled.get(f"recall_{e}", math.nan)
        paper = BY_NAME[name].paper or {}
        row["paper_uar"] = paper.get("uar", math.nan)
        for e in EMOTIONS:
            row[f"paper_recall_{e}"] = paper.get(e, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_comparison(results: pd.DataFrame, a: str = "PAaAN_PP", b: str = "IA+T") -> dict | None:
    """Paired test of a against b over the (fold, seed) cells both have: the comparison of paper III-B.

    Returns the number of pairs, the mean UAR difference and its confidence interval, and the p-values of
    the paired t-test and of the Wilcoxon signed-rank test (None when a variant is missing).
    """
    left = results[results["variant"] == a].set_index(["fold", "seed"])["uar"]
    right = results[results["variant"] == b].set_index(["fold", "seed"])["uar"]
    both = left.index.intersection(right.index)
    if len(both) < 2:
        return None
    diff = (left.loc[both] - right.loc[both]).to_numpy()
    mean, low, high = mean_ci(diff)
    t_p = float(stats.ttest_rel(left.loc[both], right.loc[both]).pvalue) if np.any(diff != 0) else 1.0
    w_p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    return {"a": a, "b": b, "pairs": int(len(both)), "mean_difference": mean, "ci_low": low, "ci_high": high,
            "a_better": int((diff > 0).sum()), "t_test_p": t_p, "wilcoxon_p": w_p}


def table1_markdown(summary: pd.DataFrame, synthetic: bool, comparison: dict | None = None) -> str:
    """Table I as Markdown: our recall per class and UAR beside the paper's."""
    lines = ["# Table I: 4-class emotion recognition (UAR), ours beside the paper's", ""]
    if synthetic:
        lines += [f"> **Note.** {SYNTHETIC_NOTE}", ""]
    header = "| variant | " + " | ".join(f"{e} (paper)" for e in EMOTIONS) + " | UAR mean ± std (95% CI) | pooled UAR | paper UAR | runs |"
    lines += [header, "|" + "---|" * (len(EMOTIONS) + 5)]
    for row in summary.itertuples():
        cells = [f"{getattr(row, f'recall_{e}_mean'):.3f} ({_fmt(getattr(row, f'paper_recall_{e}'))})" for e in EMOTIONS]
        ci = f" ({row.uar_ci_low:.3f}-{row.uar_ci_high:.3f})" if np.isfinite(row.uar_ci_low) else ""
        pooled = getattr(row, "uar_pooled", math.nan)
        lines.append(f"| {row.variant} | " + " | ".join(cells)
                     + f" | {row.uar_mean:.3f} ± {row.uar_std:.3f}{ci} | {_fmt(pooled)} | {_fmt(row.paper_uar)} | {row.n} |")
    lines += ["", "Recall per class is the mean over folds (and seeds); UAR = mean of the per-class recalls "
              "(unweighted average recall); pooled UAR is computed over all folds' predictions at once. "
              "The 95% CI is Student's t over the (fold, seed) runs."]
    if comparison:
        c = comparison
        lines += ["", f"**Paired comparison {c['a']} vs {c['b']}** over {c['pairs']} (fold, seed) pairs: "
                  f"mean UAR difference {c['mean_difference']:+.3f} (95% CI {_fmt(c['ci_low'])} to {_fmt(c['ci_high'])}), "
                  f"{c['a']} better in {c['a_better']} of {c['pairs']}; paired t-test p = {c['t_test_p']:.3g}, "
                  f"Wilcoxon signed-rank p = {c['wilcoxon_p']:.3g}. The paper reports +0.034 UAR (0.700 vs 0.666) "
                  "without a test."]
    return "\n".join(lines) + "\n"


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
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
