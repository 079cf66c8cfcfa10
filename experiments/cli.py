"""The ``paaan`` command: one click group, one thin subcommand per pipeline step.

Each subcommand parses options and calls one function (in ``experiments/`` for the MLflow/Ray steps, in
``paaan`` for library work). Errors from bad input (``paaan.errors.PaaanError``) are printed as one line
naming the file and the problem, with exit status 2, never as a bare traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from paaan.errors import PaaanError


class _WholeNumber(click.ParamType):
    """An integer that also accepts "3.0" (MLproject's numeric parameters are floats)."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not number.is_integer():
            self.fail(f"{value!r} is not a whole number", param, ctx)
        return int(number)


INT = _WholeNumber()


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PaaanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PAaAN emotion recognition: corpora, features, SHLA, retrieval, training and the Table I ablation."""


def corpus_options(func):
    """Options every pipeline step shares: corpora, profile, tracking URI."""
    options = [
        click.option("--iemocap-root", default="", help="IEMOCAP_full_release folder (empty: the demo corpus)."),
        click.option("--sspnet-root", default="", help="SSPNet folder (empty: the demo corpus)."),
        click.option("--glove", default="", help="Word vectors: glove-6b-50d or a GloVe .txt/.zip path "
                                                  "(empty: the profile's)."),
        click.option("--profile", default="demo", show_default=True, help="Profile name (demo, paper) or YAML path."),
        click.option("--demo-seed", default=0, type=INT, show_default=True, help="Seed of the demo corpus."),
        click.option("--demo-profile", default="demo", show_default=True,
                     type=click.Choice(["tiny", "demo", "iemocap-scale"]), help="Size of the demo corpus."),
        click.option("--tracking-uri", default="", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                         "sqlite:///./mlflow.db)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _setup(opts: dict):
    """Tracking, profile and corpora from the shared options."""
    from experiments import tracking
    from experiments.corpora import resolve_corpora
    from experiments.profiles import load_profile

    tracking.setup_tracking(opts["tracking_uri"] or None)
    profile, ablation = load_profile(opts["profile"])
    if opts["glove"]:
        profile = profile.replace(features={"glove": opts["glove"]})
    corpora = resolve_corpora(opts["iemocap_root"] or None, opts["sspnet_root"] or None,
                              demo_seed=opts["demo_seed"], demo_profile=opts["demo_profile"])
    return profile, ablation, corpora


@main.command("featurize")
@corpus_options
@click.option("--workers", default=0, type=INT, show_default=True, help="openSMILE worker processes (0: all cores).")
def featurize_cmd(workers: int, **opts) -> None:
    """openSMILE LLDs and functionals, GloVe words and POS tags of both corpora, as an MLflow run."""
    from experiments.featurize import run_featurize

    profile, _, corpora = _setup(opts)
    run_id = run_featurize(corpora, profile.features, workers=workers, entry=True)
    click.echo(f"featurize run: {run_id}")


@main.command("shla")
@corpus_options
@click.option("--seed", default=0, type=INT, show_default=True)
def shla_cmd(seed: int, **opts) -> None:
    """Train the shared-hidden-layer autoencoder on both corpora's functionals (reusing featurize)."""
    from experiments.featurize import run_featurize
    from experiments.shla import run_shla

    profile, _, corpora = _setup(opts)
    featurize_run = run_featurize(corpora, profile.features)
    click.echo(f"shla run: {run_shla(featurize_run, profile.shla, seed=seed, entry=True)}")


@main.command("retrieve")
@corpus_options
@click.option("--space", type=click.Choice(["PP", "NA"]), default="PP", show_default=True,
              help="PP: SHLA latents; NA: raw functionals z-scored over both corpora.")
@click.option("--k", "k", default=0, type=INT, help="Clips retrieved per utterance (0: the profile's).")
@click.option("--seed", default=0, type=INT, show_default=True, help="Seed of the SHLA run (PP).")
def retrieve_cmd(space: str, k: int, seed: int, **opts) -> None:
    """Top-k SSPNet clips per utterance and the 25-d personality embedding per speaker."""
    from experiments.featurize import run_featurize
    from experiments.retrieve import run_retrieve
    from experiments.shla import run_shla

    profile, _, corpora = _setup(opts)
    featurize_run = run_featurize(corpora, profile.features)
    shla_run = run_shla(featurize_run, profile.shla, seed=seed) if space == "PP" else None
    run_id = run_retrieve(featurize_run, space, k=k or profile.retrieval.k, k_max=profile.tune.k_max,
                          shla_run_id=shla_run, ground_truth=corpora.ground_truth, entry=True)
    click.echo(f"retrieve run: {run_id}")


@main.command("train")
@corpus_options
@click.option("--variant", default="PAaAN_PP", show_default=True, help="A row of the variants table.")
@click.option("--fold", default="1", show_default=True, help="1..5 (test session), or 'all'.")
@click.option("--seed", default=0, type=INT, show_default=True)
@click.option("--k", "k", default=0, type=INT, help="Clips retrieved per utterance (0: the profile's).")
def train_cmd(variant: str, fold: str, seed: int, k: int, **opts) -> None:
    """Train one variant on one leave-one-session-out fold (reusing featurize, shla, retrieve)."""
    from experiments.train import run_train
    from paaan.variants import get_variant

    profile, _, corpora = _setup(opts)
    fold_value = fold if fold == "all" else int(fold)
    run_id = run_train(corpora, profile, get_variant(variant), fold_value, seed=seed, k=k or None)
    click.echo(f"train run: {run_id}")


@main.command("tune-k")
@corpus_options
@click.option("--variant", default="PAaAN_PP", show_default=True, help="A retrieval variant (PP or NA).")
@click.option("--fold", default=1, type=INT, show_default=True, help="Outer fold (1..5); k is tuned inside its training sessions.")
@click.option("--trials", default=0, type=INT, help="Optuna trials (0: the profile's).")
@click.option("--seed", default=0, type=INT, show_default=True)
def tune_k_cmd(variant: str, fold: int, trials: int, seed: int, **opts) -> None:
    """Optuna over k for one variant and fold, on inner validation only; every trial is a nested run."""
    from experiments.tune_k import run_tune_k
    from paaan.variants import get_variant

    profile, _, corpora = _setup(opts)
    run_id = run_tune_k(corpora, profile, get_variant(variant), fold, trials or profile.tune.k_trials, seed=seed)
    click.echo(f"tune_k run: {run_id}")


@main.command("ablation")
@corpus_options
@click.option("--variants", default="all", show_default=True, help="Comma-separated rows of the variants table.")
@click.option("--seeds", default=0, type=INT, help="Seeds per (variant, fold) (0: the profile's, 1 by default).")
@click.option("--ray-address", default="",
              help="An existing Ray cluster (e.g. 10.0.0.5:6379); empty: $RAY_ADDRESS, else a new local one.")
@click.option("--num-cpus", default=0, type=INT, help="CPUs of the local Ray cluster (0: every core).")
@click.option("--cpus-per-trial", default=1.0, show_default=True)
@click.option("--gpus-per-trial", default=0.0, show_default=True, help="Fractions share a GPU (e.g. 0.25).")
@click.option("--k-trials", default=0, type=INT, help="Optuna trials per (variant, fold) for k (0: the profile's).")
@click.option("--k-tuning", default="", type=click.Choice(["", "per_variant", "per_source", "off"]),
              help="One k study per retrieval variant, per personality source, or none (empty: the profile's).")
@click.option("--max-failures", default=2, type=INT, show_default=True, help="Ray retries of a failed trial.")
@click.option("--workers", default=0, type=INT, help="featurize processes (0: every core).")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Train each variant on all sessions and register it as paaan-<variant>.")
@click.option("--force", is_flag=True, help="Run again even if a finished ablation has the same inputs.")
def ablation_cmd(variants, seeds, ray_address, num_cpus, cpus_per_trial, gpus_per_trial, k_trials, k_tuning,
                 max_failures, workers, register, force, **opts) -> None:
    """Table I: every variant x fold x seed on Ray Tune, Optuna-tuned k, MLflow runs and registered models."""
    from experiments.ablation import AblationSettings, choose_variants, run_ablation

    profile, ablation, corpora = _setup(opts)
    settings = AblationSettings(
        variants=choose_variants(variants, corpora), seeds=seeds or int(ablation.get("seeds", 1)),
        k_tuning=k_tuning or ablation.get("k_tuning", "per_variant"), k_trials=k_trials or profile.tune.k_trials,
        ray_address=ray_address or os.environ.get("RAY_ADDRESS") or None, num_cpus=num_cpus or None,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial, max_failures=max_failures, workers=workers, register=register, force=force)
    run_ablation(corpora, profile, settings)


@main.command("analyze")
@click.option("--ablation-run-id", default="", help="The ablation parent run (empty: the latest finished one).")
@click.option("--per-speaker", default=2, type=INT, show_default=True, help="Utterance pictures per speaker (0: none).")
@click.option("--combine", type=click.Choice(["per_dimension", "mean"]), default="per_dimension", show_default=True,
              help="How a category's LLD dimensions meet the speaker's threshold (III-C; see paaan/analysis.py).")
@click.option("--force", is_flag=True, help="Run again even if a finished analysis has the same inputs.")
@click.option("--tracking-uri", default="", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                 "sqlite:///./mlflow.db).")
def analyze_cmd(ablation_run_id: str, per_speaker: int, combine: str, force: bool, tracking_uri: str) -> None:
    """Where PAaAN_PP's attention moves relative to IA+T per speaker and category (paper Fig 2, III-C)."""
    from experiments import tracking
    from experiments.analyze import run_analyze

    tracking.setup_tracking(tracking_uri or None)
    run_analyze(ablation_run_id or None, per_speaker=per_speaker, combine=combine, force=force)


@main.command("demo-corpus")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--seed", default=0, type=INT, show_default=True, help="Random seed; the same seed writes the same files.")
@click.option("--profile", type=click.Choice(["tiny", "demo", "iemocap-scale"]), default="demo", show_default=True)
def demo_corpus(out: str, seed: int, profile: str) -> None:
    """Write a synthetic IEMOCAP + SSPNet corpus (real wav audio) with a planted personality effect."""
    import time

    from paaan.demo import generate_demo_corpus

    started = time.perf_counter()
    path = generate_demo_corpus(out, seed=seed, profile=profile, progress=True)
    click.echo(f"demo corpus ({profile}, seed {seed}) written to {path} in {time.perf_counter() - started:.1f} s")
    click.echo(f"  IEMOCAP: {path / 'IEMOCAP_full_release'}\n  SSPNet:  {path / 'SSPNet'}\n"
               f"  truth:   {path / 'ground_truth.json'}")


@main.command("inspect")
@click.argument("corpus", type=click.Choice(["iemocap", "sspnet"]))
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
@click.option("--max-files", default=20, type=INT, show_default=True, help="How many skipped files to list.")
def inspect(corpus: str, root: str, as_json: bool, max_files: int) -> None:
    """Summarise a corpus (counts, speakers, what is skipped and why) before spending hours on it."""
    from paaan.data.summary import format_summary, summarize_iemocap, summarize_sspnet

    summary = (summarize_iemocap if corpus == "iemocap" else summarize_sspnet)(root, max_files=max_files)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


if __name__ == "__main__":
    main()
