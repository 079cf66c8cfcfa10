"""Registering the all-session models of an ablation as ``paaan-<variant>`` with aliases.

- ``paaan-<variant>@champion``: the version of that variant with the best cross-validated UAR so far (so
  ``models:/paaan-PAaAN_PP@champion`` always names the best PAaAN_PP trained in this tracking store);
- ``@best_variant``: set on the newest version of the best variant of the latest ablation, and only when
  that ablation resolves one (``paaan.report.best_variant``: its lead over every other candidate has a 95%
  CI above 0, Holm-corrected); the version's tags say how it was chosen (``best_variant.rule``, the
  comparisons). When none is resolvable the alias is removed from every variant, and each new version is
  tagged ``best_variant = none resolved`` with the top variant and the ones it was not resolved from.
  Candidates: the variants real requests can be served by (rows fed the true personality, the oracle and
  the shuffled control, are excluded).
Each version carries the ablation's scores as tags (``uar_mean``, ``uar_std``, ``ablation_run``).

Dimensional models (``train.task = dimensional``) are registered apart, as ``paaan-dimensional-<variant>``, with
``ccc_mean`` / ``ccc_std`` tags, the champion and the best variant chosen on the mean CCC: a champion is
only ever compared with models of its own task.
"""

from __future__ import annotations

import math
import re

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from paaan.report import BEST_RULE, best_variant
from paaan.tasks import get_task
from paaan.variants import get_variant

PREFIX = "paaan-"


def model_name(variant: str, task: str = "categorical", corpus: str = "iemocap") -> str:
    """A registered-model name MLflow accepts and URIs keep intact: a '+' that ends a name part (the mlp rows'
    mark) becomes 'plus', any other '_' (A+T -> paaan-A_T, IA+T+ -> paaan-IA_Tplus, PAaAN+_oracle ->
    paaan-PAaANplus_oracle); the dimensional task's models get ``paaan-dimensional-``, and models of an emotion
    corpus other than IEMOCAP its name (``paaan-acted_demo-A_T``): a champion is only ever compared with models
    of its own task and corpus."""
    prefix = PREFIX + ("" if corpus == "iemocap" else f"{corpus}-") + ("" if task == "categorical" else f"{task}-")
    return prefix + re.sub(r"\+(?=_|$)", "plus", variant).replace("+", "_")


def _score_of(client: MlflowClient, name: str, alias: str, tag: str) -> float:
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return -math.inf
    return float(version.tags.get(tag, "-inf"))


def register_final_models(final_runs: dict[str, str], summary: pd.DataFrame,
                          results: pd.DataFrame | None = None, task: str = "categorical",
                          corpus: str = "iemocap") -> dict[str, int]:
    """Register each variant's all-session model; move the aliases; return {variant: version}.

    ``results``: the ablation's fold trials (variant, fold, seed, uar), from which the best variant is chosen
    (``paaan.report.best_variant``); without them no best variant is named."""
    client = MlflowClient()
    score = get_task(task).selection  # uar, or ccc
    scores = summary.set_index("variant")
    parent = mlflow.active_run().info.run_id if mlflow.active_run() else ""
    versions: dict[str, int] = {}
    for variant, run_id in sorted(final_runs.items()):
        name = model_name(variant, task, corpus)
        value = float(scores.loc[variant, f"{score}_mean"]) if variant in scores.index else math.nan
        tags = {"variant": variant, f"{score}_mean": f"{value:.6f}", "ablation_run": parent, "task": task,
                f"{score}_std": f"{float(scores.loc[variant, f'{score}_std']):.6f}" if variant in scores.index else ""}
        # MLflow 3 keeps logged models apart from run artifacts: register the model the trial logged.
        model_uri = client.get_run(run_id).data.tags.get("paaan.model_uri", f"runs:/{run_id}/model")
        version = mlflow.register_model(model_uri, name, tags=tags)
        versions[variant] = int(version.version)
        if math.isfinite(value) and value >= _score_of(client, name, "champion", f"{score}_mean"):
            client.set_registered_model_alias(name, "champion", version.version)
    candidates = [v for v in versions if not get_variant(v).uses_ground_truth]
    choice = best_variant(results, candidates, metric=score) if results is not None and len(results) else \
        {"best": None, "top": None, "unresolved": candidates, "comparisons": [], "rule": BEST_RULE}
    for variant in versions:
        if variant != choice["best"]:
            try:
                client.delete_registered_model_alias(model_name(variant, task, corpus), "best_variant")
            except mlflow.exceptions.MlflowException:
                pass
    if parent:
        client.set_tag(parent, "paaan.best_variant", choice["best"] or "none resolved")
    if choice["best"]:
        best = choice["best"]
        name, version = model_name(best, task, corpus), str(versions[best])
        client.set_registered_model_alias(name, "best_variant", version)
        client.set_model_version_tag(name, version, "best_variant.rule", BEST_RULE[:4900])
        client.set_model_version_tag(name, version, "best_variant.comparisons", "; ".join(
            f"{c['a']} - {c['b']} {c['mean_difference']:+.3f} (95% CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}, "
            f"Holm p {c['p_holm']:.3g})" for c in choice["comparisons"])[:4900])
        print(f"registered {len(versions)} models; best variant: {best} -> models:/{name}@best_variant "
              "(resolved from every other candidate)", flush=True)
    else:
        note = (f"none resolved: the top, {choice['top']}, is not resolved from "
                f"{', '.join(choice['unresolved']) or 'the others'}")
        for variant, version in versions.items():
            client.set_model_version_tag(model_name(variant, task, corpus), str(version), "best_variant", note[:4900])
            client.set_model_version_tag(model_name(variant, task, corpus), str(version), "best_variant.rule", BEST_RULE[:4900])
        print(f"registered {len(versions)} models ({', '.join(model_name(v, task, corpus) for v in versions)}); no best variant "
              f"alias: {note}", flush=True)
    return versions
