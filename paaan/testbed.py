"""The testbed's measurements: a scenario's claims evaluated on its trials, where attention goes, the figures.

A scenario of ``paaan.demo.scenarios`` plants an effect and predicts what the variants should do with it.
Its ``Claim`` rows ("a > b", a's same-score baseline b) are paired UAR differences, tested as every
comparison in ``paaan.report`` (paired on fold and seed, tested over the fold means). Its
``AttentionClaim`` rows (segment gates) say where a variant's audio attention goes: for every test utterance
the carrier segment's share of the attention the two segments get (``carrier_shares``), averaged per fold
over the utterances of speakers with one sign of extraversion, tested against 0.5 over the folds.

The verdicts, one per claim:

- ``held`` (the claim's own reading): ``greater`` holds when the 95% CI lies above the null (0 for a UAR
  difference, 0.5 for an attention share); ``not_greater`` holds when the 95% CI includes the null or lies
  below it (uncorrected, so a spurious gain is caught as easily as possible);
- ``held_holm`` (the run as one family): the same, but a ``greater`` claim also needs its Holm-corrected
  p-value over every claim of the run below 0.05. With five folds (4 df) and a dozen claims this is strict:
  a CI well above zero can still miss it, which the table then shows beside ``held``.

Pure pandas/numpy/scipy/matplotlib, no MLflow: ``experiments/testbed.py`` feeds it the trials' results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from paaan.report import holm, paired_comparison  # noqa: E402

STEP_SECONDS = 0.04  # one BLSTM time step (paper II-B1)
ALPHA = 0.05
VERDICT_COLUMNS = ["scenario", "claim", "kind", "expect", "estimate", "ci_low", "ci_high", "p", "p_holm", "folds",
                   "seeds", "held", "held_holm"]


def carrier_shares(attention: pd.DataFrame, segments: Mapping[str, dict], step_seconds: float = STEP_SECONDS) -> pd.DataFrame:
    """Per utterance with two segments: the carrier's share of the attention falling inside either segment.

    ``attention``: utterance_id, step, alpha (40 ms steps, as a trial logs them); ``segments``: the ground
    truth's ``utterance_segments`` (``carrier`` index and each segment's start/end in seconds). A step belongs
    to the segment its centre (step + 1/2) x 40 ms falls in; steps in the pauses and the padding belong to
    neither. Returns utterance_id, carrier, share (in [0, 1]; 0.5 = no preference), first_share.
    """
    rows = []
    for utterance, group in attention.groupby("utterance_id", sort=False):
        info = segments.get(utterance)
        if not info or "carrier" not in info or len(info.get("segments", ())) != 2:
            continue
        centre = (group["step"].to_numpy() + 0.5) * step_seconds
        alpha = group["alpha"].to_numpy(dtype=float)
        mass = [float(alpha[(centre >= seg["start"]) & (centre < seg["end"])].sum()) for seg in info["segments"]]
        total = mass[0] + mass[1]
        if total <= 0:
            continue
        carrier = int(info["carrier"])
        rows.append({"utterance_id": utterance, "carrier": carrier, "share": mass[carrier] / total,
                     "first_share": mass[0] / total})
    return pd.DataFrame(rows, columns=["utterance_id", "carrier", "share", "first_share"])


def _verdict(expect: str, low: float, null: float, p_holm: float | None = None) -> bool:
    """The module docstring's rule; with ``p_holm`` the family-wise one."""
    if expect == "greater":
        return bool(np.isfinite(low) and low > null and (p_holm is None or p_holm < ALPHA))
    return bool(not np.isfinite(low) or low <= null)


def claim_rows(scenario: str, claims, results: pd.DataFrame) -> list[dict]:
    """One row per UAR claim whose two variants both ran (estimate: mean paired difference a - b)."""
    rows = []
    for claim in claims:
        c = paired_comparison(results, claim.a, claim.b)
        if c is None:
            continue
        rows.append({"scenario": scenario, "claim": claim.text, "kind": "uar", "expect": claim.expect,
                     "estimate": c["mean_difference"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                     "p": c["t_test_p"], "folds": c["folds"], "seeds": c["seeds"], "null": 0.0})
    return rows


def attention_rows(scenario: str, claims, shares: pd.DataFrame) -> list[dict]:
    """One row per attention claim: the carrier's mean share over the sign's utterances, tested over folds.

    ``shares``: carrier_shares rows with variant, fold, seed and sign ("+" / "-") of the utterance's speaker.
    """
    rows = []
    for claim in claims:
        mine = shares[(shares["variant"] == claim.variant) & (shares["sign"] == claim.sign)]
        if mine.empty:
            continue
        per_cell = mine.groupby(["fold", "seed"])["share"].mean().rename("share").reset_index()
        per_fold = per_cell.groupby("fold")["share"].mean().to_numpy()
        estimate, low, high, p = float(per_cell["share"].mean()), math.nan, math.nan, math.nan
        if len(per_fold) >= 2 and np.ptp(per_fold) > 0:
            test = stats.ttest_1samp(per_fold, 0.5)
            ci = test.confidence_interval(0.95)
            low, high, p = float(ci.low), float(ci.high), float(test.pvalue)
        rows.append({"scenario": scenario, "claim": claim.text, "kind": "attention", "expect": claim.expect,
                     "estimate": estimate, "ci_low": low, "ci_high": high, "p": p, "folds": len(per_fold),
                     "seeds": int(per_cell["seed"].nunique()), "null": 0.5})
    return rows


def verdicts(rows: list[dict]) -> pd.DataFrame:
    """The verdict table: Holm over every row's p, then ``held`` per the module docstring's rule."""
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    table["p_holm"] = holm(table["p"])
    table["held"] = [_verdict(r.expect, r.ci_low, r.null) for r in table.itertuples()]
    table["held_holm"] = [_verdict(r.expect, r.ci_low, r.null, r.p_holm) for r in table.itertuples()]
    return table[VERDICT_COLUMNS]


def verdicts_markdown(table: pd.DataFrame, seconds: float | None = None) -> str:
    lines = ["# Testbed verdicts: does personality help?", "",
             "Each claim is a prediction of the scenario table (paaan/demo/scenarios.py). UAR claims: the mean "
             "paired UAR difference a - b (b: a's same-score baseline), paired on fold and seed, tested over the "
             "fold means. Attention claims: the carrier segment's share of the audio attention its two segments "
             "get (0.5: no preference). `held`: a `greater` claim holds when its 95% CI is above the null, a "
             "`not_greater` claim when its 95% CI includes the null or lies below. `held (Holm)`: a `greater` "
             "claim also needs its Holm-corrected p < 0.05 over every claim of the run.", "",
             "| scenario | claim | expect | estimate | 95% CI | p | p (Holm) | folds x seeds | held | held (Holm) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ci = f"{r.ci_low:+.3f} to {r.ci_high:+.3f}" if r.kind == "uar" else f"{r.ci_low:.3f} to {r.ci_high:.3f}"
        estimate = f"{r.estimate:+.3f}" if r.kind == "uar" else f"{r.estimate:.3f}"
        lines.append(f"| {r.scenario} | {r.claim} | {r.expect} | {estimate} | {ci} | {r.p:.3g} | {r.p_holm:.3g} | "
                     f"{r.folds} x {r.seeds} | {'yes' if r.held else '**no**'} | {'yes' if r.held_holm else 'no'} |")
    if seconds is not None:
        lines += ["", f"Wall time: {seconds / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def differences_from(results: pd.DataFrame, baseline: str = "IA+T") -> pd.DataFrame:
    """Every other variant's paired UAR difference from ``baseline`` (estimate and 95% CI)."""
    rows = []
    for variant in results["variant"].unique():
        if variant == baseline:
            continue
        c = paired_comparison(results, variant, baseline)
        if c:
            rows.append({"variant": variant, "estimate": c["mean_difference"], "ci_low": c["ci_low"],
                         "ci_high": c["ci_high"]})
    return pd.DataFrame(rows, columns=["variant", "estimate", "ci_low", "ci_high"])


def plot_differences(per_scenario: Mapping[str, pd.DataFrame], path: str | Path, baseline: str = "IA+T") -> Path:
    """One panel per scenario: each variant's paired UAR difference from ``baseline`` with its 95% CI. Each
    panel labels its own variants (scenarios run different ones, so the panels share no y axis)."""
    path = Path(path)
    names = [s for s, frame in per_scenario.items() if len(frame)]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.9 * max(1, len(names)), 3.8), dpi=120, squeeze=False)
    for ax, name in zip(axes[0], names):
        frame = per_scenario[name].sort_values("variant")
        y = np.arange(len(frame))
        low = (frame["estimate"] - frame["ci_low"]).fillna(0).clip(lower=0)
        high = (frame["ci_high"] - frame["estimate"]).fillna(0).clip(lower=0)
        colours = ["#c0392b" if "+" in v else "#2e86c1" for v in frame["variant"]]
        ax.errorbar(frame["estimate"], y, xerr=[low, high], fmt="none", ecolor="grey", capsize=3)
        ax.scatter(frame["estimate"], y, c=colours, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, frame["variant"], fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"UAR - {baseline} (95% CI)", fontsize=8)
    fig.suptitle("Each variant against IA+T, per scenario (red: mlp score, blue: fc)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_carrier_attention(shares: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Bars: the carrier's share of the audio attention per variant and sign of extraversion (mean over fold
    means, with the range of the fold means); 0.5 is no preference."""
    path = Path(path)
    variants = sorted(shares["variant"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(variants) + 1.5), 3.6), dpi=120)
    x = np.arange(len(variants))
    for offset, sign, colour in ((-0.18, "+", "#e67e22"), (0.18, "-", "#8e44ad")):
        means, lows, highs = [], [], []
        for variant in variants:
            mine = shares[(shares["variant"] == variant) & (shares["sign"] == sign)]
            folds = mine.groupby(["fold", "seed"])["share"].mean().groupby("fold").mean()
            means.append(float(folds.mean()) if len(folds) else math.nan)
            lows.append(float(folds.mean() - folds.min()) if len(folds) else 0.0)
            highs.append(float(folds.max() - folds.mean()) if len(folds) else 0.0)
        label = "extraverts (carrier first)" if sign == "+" else "introverts (carrier second)"
        ax.bar(x + offset, means, 0.34, yerr=[lows, highs], capsize=3, color=colour, label=label)
    ax.axhline(0.5, color="black", lw=0.8, ls=":")
    ax.set_xticks(x, variants, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("carrier's share of audio attention")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
