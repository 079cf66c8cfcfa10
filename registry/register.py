"""Registering the all-session models of an ablation as ``paaan-<variant>`` with aliases.

- ``paaan-<variant>@champion``: the version of that variant with the best cross-validated UAR so far (so
  ``models:/paaan-PAaAN_PP@champion`` always names the best PAaAN_PP trained in this tracking store);
- ``@best_variant``: set on the newest version of the variant with the best UAR in the latest ablation
  (PAaAN_oracle excluded: it needs the speaker's true personality, which real requests do not have).
Each version carries the ablation's scores as tags (``uar_mean``, ``uar_std``, ``ablation_run``).
"""

from __future__ import annotations

import math
import re

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

PREFIX = "paaan-"


def model_name(variant: str) -> str:
    """A registered-model name MLflow accepts and URIs keep intact: a '+' that ends a name part (the mlp rows'
    mark) becomes 'plus', any other '_' (A+T -> paaan-A_T, IA+T+ -> paaan-IA_Tplus, PAaAN+_oracle ->
    paaan-PAaANplus_oracle)."""
    return PREFIX + re.sub(r"\+(?=_|$)", "plus", variant).replace("+", "_")


def _uar_of(client: MlflowClient, name: str, alias: str) -> float:
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return -math.inf
    return float(version.tags.get("uar_mean", "-inf"))


def register_final_models(final_runs: dict[str, str], summary: pd.DataFrame) -> dict[str, int]:
    """Register each variant's all-session model; move the aliases; return {variant: version}."""
    client = MlflowClient()
    scores = summary.set_index("variant")
    parent = mlflow.active_run().info.run_id if mlflow.active_run() else ""
    versions: dict[str, int] = {}
    for variant, run_id in sorted(final_runs.items()):
        name = model_name(variant)
        uar = float(scores.loc[variant, "uar_mean"]) if variant in scores.index else math.nan
        tags = {"variant": variant, "uar_mean": f"{uar:.6f}", "ablation_run": parent,
                "uar_std": f"{float(scores.loc[variant, 'uar_std']):.6f}" if variant in scores.index else ""}
        # MLflow 3 keeps logged models apart from run artifacts: register the model the trial logged.
        model_uri = client.get_run(run_id).data.tags.get("paaan.model_uri", f"runs:/{run_id}/model")
        version = mlflow.register_model(model_uri, name, tags=tags)
        versions[variant] = int(version.version)
        if math.isfinite(uar) and uar >= _uar_of(client, name, "champion"):
            client.set_registered_model_alias(name, "champion", version.version)
    candidates = scores.drop(index=[v for v in scores.index if "oracle" in v or v not in versions], errors="ignore")
    if len(candidates):
        best = candidates["uar_mean"].idxmax()
        for variant in versions:
            if variant != best:
                try:
                    client.delete_registered_model_alias(model_name(variant), "best_variant")
                except mlflow.exceptions.MlflowException:
                    pass
        client.set_registered_model_alias(model_name(best), "best_variant", str(versions[best]))
        print(f"registered {len(versions)} models ({', '.join(model_name(v) for v in versions)}); "
              f"best variant: {best} -> models:/{model_name(best)}@best_variant", flush=True)
    return versions
