"""Every testbed figure the README cites, read back from a finished testbed's tracking store.

    python -m benchmarks.testbed_figures /tmp/paaan-bench/budget-full/mlflow.db [--data DIR]

``--data`` is the ``PAAAN_DATA`` the testbed generated its corpora in (default: ``data/`` beside the store,
where ``bench_testbed.py`` puts them). It prints, for the latest FINISHED testbed run of the store:

- the verdict table (Markdown, as the README shows it);
- per scenario, each variant's UAR (mean over folds x seeds) and mean epochs run;
- per segment gate, the carrier's share of audio attention per variant and sign of extraversion (mean over
  fold means), each variant's share minus IA+T+'s (paired on fold, Student's t 95% CI over the 5 folds),
  and, for the oracle PAaAN rows, the shares of the trials that learned the gate (UAR >= 0.8) and of the
  others;
- per scenario that runs P-T_oracle, per fold: the test speakers' largest |z| of a true trait (z-scored with
  the fold's training speakers' mean and std, floored at 0.1, as training scales them), P-T_oracle's and
  PAaAN_oracle's UAR minus IA+T's, and the Spearman rho between the two over the folds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
from scipy import stats

TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def verdict_rows(verdicts: pd.DataFrame) -> list[str]:
    rows = []
    for r in verdicts.itertuples():
        if r.kind == "uar":
            estimate = f"{r.estimate:+.3f} ({r.ci_low:+.3f} to {r.ci_high:+.3f})"
        else:
            estimate = f"{r.estimate:.3f} ({r.ci_low:.3f} to {r.ci_high:.3f})"
        rows.append(f"| {r.scenario} | {r.claim} | {r.expect.replace('_', ' ')} | {estimate} | "
                    f"{'yes' if r.held else '**no**'} | {'yes' if r.held_holm else 'no'} |")
    return rows


def extrapolation(results: pd.DataFrame, truth: dict, folds: int = 5) -> pd.DataFrame:
    """Per session fold f (test session f, validation session f+1, training the other three): the test
    speakers' largest |z| of a true trait and each oracle row's UAR difference from IA+T."""
    traits = pd.DataFrame({s: v["traits"] for s, v in truth["iemocap"]["speakers"].items()}).T[list(TRAITS)]
    session = {s: int(s[3:5]) for s in traits.index}
    means = results.groupby(["variant", "fold"])["uar"].mean().unstack(0)
    rows = []
    for fold in range(1, folds + 1):
        validation = fold % folds + 1
        train = [s for s in traits.index if session[s] not in (fold, validation)]
        test = [s for s in traits.index if session[s] == fold]
        mean, std = traits.loc[train].mean(), traits.loc[train].std(ddof=0).clip(lower=0.1)
        z = ((traits.loc[test] - mean) / std).abs()
        row = {"fold": fold, "max_abs_z": float(z.max().max()), "trait": str(z.max().idxmax())}
        for variant in ("P-T_oracle", "PAaAN_oracle"):
            if variant in means:
                row[f"{variant} - IA+T"] = float(means.loc[fold, variant] - means.loc[fold, "IA+T"])
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="the testbed's mlflow.db")
    parser.add_argument("--data", type=Path, default=None, help="its PAAAN_DATA (default: data/ beside the store)")
    args = parser.parse_args()
    data = args.data or args.store.parent / "data"
    os.environ["PAAAN_DATA"] = str(data)
    import mlflow
    from mlflow.tracking import MlflowClient

    from experiments.testbed import trial_shares
    from paaan.demo import get_scenario

    mlflow.set_tracking_uri(f"sqlite:///{args.store.resolve()}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name("paaan")
    parent = client.search_runs([experiment.experiment_id],
                                "tags.`paaan.step` = 'testbed' and attributes.status = 'FINISHED'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    tmp = tempfile.mkdtemp()
    verdicts = pd.read_csv(client.download_artifacts(parent.info.run_id, "verdicts.csv", tmp))
    print(f"testbed {parent.info.run_id}: held {int(verdicts.held.sum())}/{len(verdicts)}, "
          f"held after Holm {int(verdicts.held_holm.sum())}\n")
    print("| scenario | claim | predicted | estimate (95% CI) | held | held after Holm |\n|---|---|---|---|---|---|")
    print("\n".join(verdict_rows(verdicts)))
    scenarios = {r.data.tags["paaan.scenario"]: r for r in client.search_runs(
        [experiment.experiment_id], "tags.`paaan.step` = 'scenario' and attributes.status = 'FINISHED'")
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    for name, run in scenarios.items():
        scenario = get_scenario(name)
        results = pd.read_csv(client.download_artifacts(run.info.run_id, "fold_results.csv", tmp))
        print(f"\n{name}: UAR per variant (mean over folds x seeds; mean epochs run): " + "; ".join(
            f"{v} {g.uar.mean():.3f} ({g.epochs_run.mean():.0f})" for v, g in results.groupby("variant")))
        truth = json.loads((data / f"demo-seed0-{scenario.slug}" / "ground_truth.json").read_text())
        if "P-T_oracle" in set(results.variant):
            table = extrapolation(results, truth)
            rho = stats.spearmanr(table["max_abs_z"], table["P-T_oracle - IA+T"]).statistic
            print(f"  extrapolation per fold (Spearman rho of max |z| and P-T_oracle - IA+T: {rho:+.2f}):\n"
                  + table.round(3).to_string(index=False))
        if scenario.gate != "segment":
            continue
        shares = trial_shares(results, truth)
        fold = shares.groupby(["variant", "sign", "fold", "seed"]).share.mean().groupby(["variant", "sign", "fold"]).mean()
        variants = sorted(set(fold.index.get_level_values(0)))
        print("  carrier share (E > 0 / E < 0): " + "; ".join(
            f"{v} {fold.loc[(v, '+')].mean():.3f}/{fold.loc[(v, '-')].mean():.3f}" for v in variants))
        for variant in [v for v in variants if v not in ("IA+T+", "IA+T")]:
            parts = []
            for sign in "+-":
                diff = (fold.loc[(variant, sign)] - fold.loc[("IA+T+", sign)]).to_numpy()
                ci = stats.ttest_1samp(diff, 0).confidence_interval()
                parts.append(f"E{sign} {diff.mean():+.3f} ({ci.low:+.3f} to {ci.high:+.3f})")
            print(f"  {variant} - IA+T+ carrier share: " + ", ".join(parts))
        trials = shares.groupby(["variant", "fold", "seed", "sign"]).share.mean().unstack("sign").join(
            results.assign(fold=results.fold.astype(int)).set_index(["variant", "fold", "seed"]).uar)
        for variant in ("PAaAN+_oracle", "PAaAN_oracle"):
            if variant in trials.index.get_level_values(0):
                mine = trials.loc[variant]
                learned, rest = mine[mine.uar >= 0.8], mine[mine.uar < 0.8]
                print(f"  {variant}: {len(learned)} of {len(mine)} trials reach UAR 0.8, their carrier shares "
                      f"{learned['+'].mean():.3f}/{learned['-'].mean():.3f}; the others "
                      f"{rest['+'].mean():.3f}/{rest['-'].mean():.3f}")


if __name__ == "__main__":
    main()
