"""The testbed's measurements: a scenario's claims evaluated on its trials, where attention goes, the figures.

A scenario of ``paaan.demo.scenarios`` plants an effect and predicts what the variants should do with it.
Every claim is a paired difference ("a - b": a personality variant against its same-score baseline, or
against the control), measured per trial cell (draw, fold, seed), averaged over the seeds of a unit and
tested over the units. A unit is one fold of one corpus draw: seeds of a fold share its test speakers and
its training data, so they are not independent replicates, but folds of different draws are independent
corpora. The kinds of claims:

- ``uar``: the UAR difference a - b (``Claim``); ``ccc_valence``, ``ccc_activation``, ``ccc_dominance``, ``ccc``:
  the same for a dimensional claim's CCC (the scenario's studies then run the dimensional task);
- ``attention`` (segment gates): the carrier segment's share of the audio attention its two segments get,
  per sign of extraversion, or the sign contrast of the first segment's share (E > 0 minus E < 0), each
  minus the baseline's on the same utterances (``AttentionClaim``; ``carrier_shares``);
- ``counterfactual`` (segment gates): the share of test utterances whose prediction moves to the other
  segment's emotion when the speaker is handed its session partner's personality, minus the control's
  (``CounterfactualClaim``; ``counterfactual_moves``).

The outcome of a claim (``judge``), in this order: ``greater`` when the 95% CI of the mean difference lies
above 0; ``less`` when it lies below 0; ``equivalent`` when the 90% CI lies inside +- ``margin`` (two
one-sided t-tests at 5%, TOST: evidence that any effect is smaller than the margin); ``inconclusive``
otherwise. A claim ``held`` when its outcome is the predicted one: a predicted null needs ``equivalent``, so a
noisy comparison whose CI merely touches 0 no longer passes for one. ``held_holm``: held, and the p-value of
the predicted test (the t-test's for ``greater``, TOST's for ``equivalent``) Holm-corrected over every row of
the run below 0.05.

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

from paaan.report import holm, save_figure  # noqa: E402

STEP_SECONDS = 0.04  # one BLSTM time step (paper II-B1)
ALPHA = 0.05
OUTCOMES = ("greater", "less", "equivalent", "inconclusive")
CELL = ["draw", "fold", "seed"]  # a trial cell; a unit is (draw, fold)
VERDICT_COLUMNS = ["scenario", "claim", "kind", "draws", "expect", "outcome", "estimate", "ci_low", "ci_high",
                   "ci90_low", "ci90_high", "margin", "p", "p_holm", "a_mean", "b_mean", "units", "seeds", "held",
                   "held_holm"]


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


def counterfactual_moves(predictions: pd.DataFrame, segments: Mapping[str, dict]) -> pd.DataFrame:
    """Per gated test utterance: did the prediction move to the other segment's emotion when the speaker was
    handed its partner's personality (``prediction`` -> ``counterfactual``)?

    ``predictions``: utterance_id, prediction, counterfactual (a trial's predictions.csv); ``segments``: the
    ground truth's ``utterance_segments``. An utterance moves when its counterfactual prediction differs from
    its prediction and is the emotion of the segment that is not the carrier. Returns utterance_id, moved
    (bool), carrier_predicted (the prediction was the carrier's emotion).
    """
    rows = []
    for row in predictions.itertuples():
        info = segments.get(row.utterance_id)
        if not info or "carrier" not in info or len(info.get("segments", ())) != 2:
            continue
        carrier = int(info["carrier"])
        carried, other = info["segments"][carrier]["emotion"], info["segments"][1 - carrier]["emotion"]
        rows.append({"utterance_id": row.utterance_id,
                     "moved": bool(row.counterfactual != row.prediction and row.counterfactual == other),
                     "carrier_predicted": bool(row.prediction == carried)})
    return pd.DataFrame(rows, columns=["utterance_id", "moved", "carrier_predicted"])


# --- the statistics --------------------------------------------------------------------------------------


def unit_means(cells: pd.DataFrame, value: str = "difference") -> pd.Series:
    """Mean of ``value`` per unit (draw, fold), over the unit's seeds; cells without a draw are one draw."""
    cells = cells if "draw" in cells else cells.assign(draw=0)
    return cells.groupby(["draw", "fold"], sort=True)[value].mean()


def tost_p(values, margin: float) -> float:
    """The p-value of two one-sided t-tests that the mean of ``values`` lies inside (-margin, +margin): the
    larger of the two one-sided p-values (Schuirmann 1987). It is below 0.05 exactly when the 90% t CI lies
    inside the margin. Without spread: 0 when the value is inside, 1 when not."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0 if len(x) and abs(x[0]) < margin else 1.0
    lower = stats.ttest_1samp(x, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(x, margin, alternative="less").pvalue
    return float(max(lower, upper))


def judge(values, expect: str, margin: float) -> dict:
    """The outcome of a claim on its unit differences (module docstring) with its CIs and predicted test's p."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    out = {"estimate": float(x.mean()) if len(x) else math.nan, "units": int(len(x)), "margin": float(margin)}
    if len(x) >= 2 and np.ptp(x) > 0:
        test = stats.ttest_1samp(x, 0.0)
        ci95, ci90 = test.confidence_interval(0.95), test.confidence_interval(0.90)
        out |= {"ci_low": float(ci95.low), "ci_high": float(ci95.high), "ci90_low": float(ci90.low),
                "ci90_high": float(ci90.high), "p_greater": float(test.pvalue)}
    else:  # one unit, or no spread: the interval is the value itself (no evidence either way from one unit)
        value = out["estimate"]
        out |= {"ci_low": value, "ci_high": value, "ci90_low": value, "ci90_high": value,
                "p_greater": 1.0 if len(x) < 2 or value == 0 else 0.0}
        if len(x) < 2:
            out |= {"ci_low": math.nan, "ci_high": math.nan, "ci90_low": math.nan, "ci90_high": math.nan}
    out["p_equivalent"] = tost_p(x, margin) if len(x) >= 2 else 1.0
    if np.isfinite(out["ci_low"]) and out["ci_low"] > 0:
        outcome = "greater"
    elif np.isfinite(out["ci_high"]) and out["ci_high"] < 0:
        outcome = "less"
    elif out["p_equivalent"] < ALPHA:
        outcome = "equivalent"
    else:
        outcome = "inconclusive"
    out["outcome"] = outcome
    out["p"] = out["p_greater"] if expect == "greater" else out["p_equivalent"]
    return out


def _row(scenario: str, text: str, kind: str, expect: str, cells: pd.DataFrame, margin: float,
         draws: str) -> dict:
    """A verdict row from paired cells (draw, fold, seed, a, b)."""
    cells = cells.assign(difference=cells["a"] - cells["b"])
    verdict = judge(unit_means(cells).to_numpy(), expect, margin)
    return {"scenario": scenario, "claim": text, "kind": kind, "draws": draws, "expect": expect,
            **{k: verdict[k] for k in ("outcome", "estimate", "ci_low", "ci_high", "ci90_low", "ci90_high",
                                       "margin", "p", "units")},
            "a_mean": float(cells["a"].mean()), "b_mean": float(cells["b"].mean()),
            "seeds": int(cells["seed"].nunique())}


def paired_cells(frame: pd.DataFrame, a: str, b: str, value: str, keys: list[str]) -> pd.DataFrame:
    """Cells of variant a and variant b side by side (columns a, b), matched on ``keys``."""
    frame = frame if "draw" in frame else frame.assign(draw=0)
    left = frame[frame["variant"] == a].set_index(keys)[value]
    right = frame[frame["variant"] == b].set_index(keys)[value]
    both = left.index.intersection(right.index)
    return pd.DataFrame({"a": left.loc[both], "b": right.loc[both]}).reset_index()


def draws_label(frame: pd.DataFrame) -> str:
    draws = sorted(set(frame["draw"])) if "draw" in frame else [0]
    return ",".join(str(int(d)) for d in draws)


def claim_rows(scenario: str, claims, results: pd.DataFrame, margin: float) -> list[dict]:
    """One row per claim whose two variants both ran and whose metric the results score (``results``: variant,
    [draw,] fold, seed and the metrics: uar for the categorical task, ccc_* for the dimensional one)."""
    rows = []
    for claim in claims:
        metric = getattr(claim, "metric", "uar")
        if metric not in results or not results[metric].notna().any():
            continue  # a claim of the other task
        cells = paired_cells(results[results[metric].notna()], claim.a, claim.b, metric, CELL)
        if cells["fold"].nunique() >= 1 and len(cells):
            rows.append(_row(scenario, claim.text, metric, claim.expect, cells, margin, draws_label(results)))
    return rows


def attention_cells(shares: pd.DataFrame) -> pd.DataFrame:
    """Per trial cell and variant: the carrier's mean share for each sign ("carrier+", "carrier-") and the
    sign contrast of the first segment's share ("contrast": mean over E > 0 minus mean over E < 0)."""
    shares = shares if "draw" in shares else shares.assign(draw=0)
    keys = ["variant", *CELL]
    by_sign = shares.groupby([*keys, "sign"])[["share", "first_share"]].mean().unstack("sign")
    out = pd.DataFrame(index=by_sign.index)
    for sign in ("+", "-"):
        out[f"carrier{sign}"] = by_sign[("share", sign)] if ("share", sign) in by_sign else math.nan
    if ("first_share", "+") in by_sign and ("first_share", "-") in by_sign:
        out["contrast"] = by_sign[("first_share", "+")] - by_sign[("first_share", "-")]
    else:
        out["contrast"] = math.nan
    return out.reset_index()


def attention_rows(scenario: str, claims, shares: pd.DataFrame, margin: float) -> list[dict]:
    """One row per attention claim: the variant's measure minus its baseline's, paired on (draw, fold, seed).

    ``shares``: carrier_shares rows with variant, [draw,] fold, seed and sign ("+" / "-") of the speaker."""
    cells = attention_cells(shares)
    rows = []
    for claim in claims:
        value = "contrast" if claim.measure == "contrast" else f"carrier{claim.sign}"
        paired = paired_cells(cells.dropna(subset=[value]), claim.variant, claim.baseline, value, CELL)
        if len(paired):
            rows.append(_row(scenario, claim.text, "attention", claim.expect, paired, margin, draws_label(shares)))
    return rows


def counterfactual_rows(scenario: str, claims, moves: pd.DataFrame, margin: float) -> list[dict]:
    """One row per counterfactual claim: the variant's share of moved predictions minus the control's.

    ``moves``: counterfactual_moves rows with variant, [draw,] fold, seed."""
    moves = moves if "draw" in moves else moves.assign(draw=0)
    rates = moves.groupby(["variant", *CELL])["moved"].mean().rename("moved").reset_index()
    rows = []
    for claim in claims:
        paired = paired_cells(rates, claim.variant, claim.control, "moved", CELL)
        if len(paired):
            rows.append(_row(scenario, claim.text, "counterfactual", claim.expect, paired, margin,
                             draws_label(moves)))
    return rows


def verdicts(rows: list[dict]) -> pd.DataFrame:
    """The verdict table: Holm over every row's p, then ``held`` and ``held_holm`` (module docstring)."""
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    table["p_holm"] = holm(table["p"])
    table["held"] = table["outcome"] == table["expect"]
    table["held_holm"] = table["held"] & (table["p_holm"] < ALPHA)
    return table[VERDICT_COLUMNS]


def _number(kind: str, value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:+.3f}"


def verdicts_markdown(table: pd.DataFrame, seconds: float | None = None, design_draw: int | None = 0) -> str:
    margin = float(table["margin"].iloc[0]) if len(table) else math.nan
    lines = ["# Testbed verdicts: does personality help?", "",
             "Each claim is a prediction of the scenario table (paaan/demo/scenarios.py): a paired difference "
             "(UAR, or a dimension's CCC: the variant minus its same-score baseline; attention: the variant's carrier share or sign "
             "contrast minus its baseline's; counterfactual: the share of predictions that move to the other "
             "segment's emotion with the partner's personality, minus the control's), averaged over the seeds of "
             "each unit (a fold of one corpus draw) and tested over the units. Outcome: `greater` (95% CI above "
             f"0), `less` (below 0), `equivalent` (90% CI inside +-{margin:.3f}: two one-sided tests), else "
             "`inconclusive`. A claim holds when its outcome is the predicted one; `held (Holm)` also needs the "
             "predicted test's p Holm-corrected over every row below 0.05."]
    if design_draw is not None:
        lines += ["", f"Draws: the corpus draw the design was tuned on (demo seed {design_draw}) is reported apart "
                  "from the draws it never saw."]
    lines += ["", "| scenario | claim | draws | expect | outcome | estimate | 95% CI | 90% CI | p (Holm) | a / b | "
              "units x seeds | held | held (Holm) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.scenario} | {r.claim} | {r.draws} | {r.expect} | {r.outcome} | {_number(r.kind, r.estimate)} | "
                     f"{_number(r.kind, r.ci_low)} to {_number(r.kind, r.ci_high)} | "
                     f"{_number(r.kind, r.ci90_low)} to {_number(r.kind, r.ci90_high)} | {r.p_holm:.3g} | "
                     f"{r.a_mean:.3f} / {r.b_mean:.3f} | {r.units} x {r.seeds} | {'yes' if r.held else '**no**'} | "
                     f"{'yes' if r.held_holm else 'no'} |")
    if seconds is not None:
        lines += ["", f"Wall time: {seconds / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def differences_from(results: pd.DataFrame, baseline: str = "IA+T") -> pd.DataFrame:
    """Every other variant's paired UAR difference from ``baseline`` (estimate and 95% CI over the units)."""
    rows = []
    for variant in results["variant"].unique():
        if variant == baseline:
            continue
        cells = paired_cells(results, variant, baseline, "uar", CELL)
        if cells.empty:
            continue
        verdict = judge(unit_means(cells.assign(difference=cells["a"] - cells["b"])).to_numpy(), "greater", 0.0)
        rows.append({"variant": variant, "estimate": verdict["estimate"], "ci_low": verdict["ci_low"],
                     "ci_high": verdict["ci_high"]})
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
    return save_figure(fig, path)


def plot_carrier_attention(shares: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Bars: the carrier's share of the audio attention per variant and sign of extraversion (mean over unit
    means, with the range of the unit means: a unit is a fold of one draw); 0.5 is no preference."""
    path = Path(path)
    variants = sorted(shares["variant"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(variants) + 1.5), 3.6), dpi=120)
    x = np.arange(len(variants))
    for offset, sign, colour in ((-0.18, "+", "#e67e22"), (0.18, "-", "#8e44ad")):
        means, lows, highs = [], [], []
        for variant in variants:
            mine = shares[(shares["variant"] == variant) & (shares["sign"] == sign)]
            mine = mine if "draw" in mine else mine.assign(draw=0)
            folds = mine.groupby(CELL)["share"].mean().groupby(["draw", "fold"]).mean()
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
    return save_figure(fig, path)
