"""The ``paaan`` command: one click group, one thin subcommand per pipeline step.

Each subcommand parses options and calls one function (in ``experiments/`` for the MLflow/Ray steps, in
``paaan`` for library work). Errors from bad input (``paaan.errors.PaaanError``) are printed as one line
naming the file and the problem, with exit status 2, never as a bare traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from experiments.options import (INT, SSPNET_SCALES, TASKS, check_protocol, check_speakers, corpus_options,
                                 protocol_options, resolve_protocol, setup, study_options, task_options)
from experiments.options import scenario_names
from paaan.errors import PaaanError


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


@main.command("featurize")
@corpus_options
@click.option("--workers", default=0, type=INT, show_default=True, help="openSMILE worker processes (0: all cores).")
def featurize_cmd(workers: int, **opts) -> None:
    """openSMILE LLDs and functionals, GloVe words and POS tags of both corpora, as an MLflow run."""
    from experiments.featurize import run_featurize

    profile, _, corpora = setup(opts)
    run_id = run_featurize(corpora, profile.features, workers=workers, entry=True)
    click.echo(f"featurize run: {run_id}")


@main.command("shla")
@corpus_options
@click.option("--seed", default=0, type=INT, show_default=True)
def shla_cmd(seed: int, **opts) -> None:
    """Train the shared-hidden-layer autoencoder on both corpora's functionals (reusing featurize)."""
    from experiments.featurize import run_featurize
    from experiments.shla import run_shla

    profile, _, corpora = setup(opts)
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
    from paaan.personality import PersonalitySource

    profile, _, corpora = setup(opts)
    featurize_run = run_featurize(corpora, profile.features)
    needs = PersonalitySource(space).needs
    shla_run = run_shla(featurize_run, profile.shla, seed=seed) if "encoder" in needs else None
    run_id = run_retrieve(featurize_run, space, k=k or profile.retrieval.k, k_max=profile.tune.k_max,
                          shla_run_id=shla_run, ground_truth=corpora.ground_truth, entry=True)
    click.echo(f"retrieve run: {run_id}")


@main.command("train")
@corpus_options
@protocol_options
@click.option("--variant", default="PAaAN_PP", show_default=True, help="A row of the variants table.")
@click.option("--fold", default="1", show_default=True, help="1..n of the protocol's folds, or 'all'.")
@click.option("--seed", default=0, type=INT, show_default=True)
@click.option("--k", "k", default=0, type=INT, help="Clips retrieved per utterance (0: the profile's).")
@task_options
def train_cmd(variant: str, fold: str, seed: int, k: int, protocol: str, folds_file: str, **opts) -> None:
    """Train one variant on one cross-validation fold (reusing featurize, shla, retrieve)."""
    from experiments.train import run_train
    from paaan.variants import get_variant

    protocol, folds_file = check_protocol(protocol, folds_file, opts["test_corpus"])
    profile, _, corpora = setup(opts)
    protocol = resolve_protocol(protocol, corpora)
    fold_value = fold if fold == "all" else int(float(fold))
    run_id = run_train(corpora, profile, get_variant(variant), fold_value, seed=seed, k=k or None,
                       protocol=protocol, folds_file=folds_file)
    click.echo(f"train run: {run_id}")


@main.command("tune-k")
@corpus_options
@protocol_options
@click.option("--variant", default="PAaAN_PP", show_default=True, help="A retrieval variant (PP or NA).")
@click.option("--fold", default=1, type=INT, show_default=True,
              help="Outer fold; k is tuned on its held-out training speakers.")
@click.option("--trials", default=0, type=INT, help="Optuna trials (0: the profile's).")
@click.option("--seed", default=0, type=INT, show_default=True)
@task_options
def tune_k_cmd(variant: str, fold: int, trials: int, seed: int, protocol: str, folds_file: str, **opts) -> None:
    """Optuna over k for one variant and fold, on inner validation only; every trial is a nested run."""
    from experiments.tune_k import run_tune_k
    from paaan.variants import get_variant

    protocol, folds_file = check_protocol(protocol, folds_file, opts["test_corpus"])
    profile, _, corpora = setup(opts)
    protocol = resolve_protocol(protocol, corpora)
    run_id = run_tune_k(corpora, profile, get_variant(variant), fold, trials or profile.tune.k_trials, seed=seed,
                        protocol=protocol, folds_file=folds_file)
    click.echo(f"tune_k run: {run_id}")


@main.command("ablation")
@corpus_options
@protocol_options
@study_options
@click.option("--variants", default="table1", show_default=True,
              help="Comma-separated rows of the variants table; table1: the paper's rows and PAaAN_oracle; all: every row.")
@click.option("--seeds", default=0, type=INT, help="Seeds per (variant, fold) (0: the profile's, 1 by default).")
@click.option("--k-trials", default=0, type=INT, help="Optuna trials per (variant, fold) for k (0: the profile's).")
@click.option("--k-tuning", default="", type=click.Choice(["", "per_variant", "per_source", "off"]),
              help="One k study per retrieval variant, per personality source, or none (empty: the profile's).")
@click.option("--k-scheduler", default="", type=click.Choice(["", "asha", "none"]),
              help="Early stopping of k trials: ASHA per study, or none (empty: the profile's).")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Train each variant on all sessions and register it as paaan-<variant>.")
@task_options
def ablation_cmd(variants, seeds, ray_address, num_cpus, cpus_per_trial, gpus_per_trial, k_trials, k_tuning,
                 k_scheduler, max_failures, workers, register, force, protocol, folds_file, **opts) -> None:
    """Table I: every variant x fold x seed on Ray Tune, Optuna-tuned k, MLflow runs and registered models."""
    from experiments.ablation import choose_variants, run_ablation
    from experiments.settings import StudySettings

    protocol, folds_file = check_protocol(protocol, folds_file, opts["test_corpus"])
    profile, ablation, corpora = setup(opts)
    protocol = resolve_protocol(protocol, corpora)
    if k_scheduler:
        profile = profile.replace(tune={"scheduler": k_scheduler})
    settings = StudySettings(
        variants=choose_variants(variants, corpora), seeds=seeds or int(ablation.get("seeds", 1)),
        k_tuning=k_tuning or ablation.get("k_tuning", "per_variant"), k_trials=k_trials or profile.tune.k_trials,
        ray_address=ray_address or os.environ.get("RAY_ADDRESS") or None, num_cpus=num_cpus or None,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_failures=max_failures, workers=workers,
        register=register, force=force, protocol=protocol, folds_file=folds_file)
    run_ablation(corpora, profile, settings)


def _flag(value: str) -> bool:
    """MLproject passes flags as strings ("true", "false")."""
    return value.strip().lower() in ("true", "1", "yes")


def _whole_numbers(text: str, what: str) -> list[int]:
    try:
        return [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.UsageError(f"{what}: comma-separated whole numbers, not {text!r}") from None


@main.command("testbed")
@click.option("--profile", default="demo", show_default=True, help="Profile name (demo, paper) or YAML path.")
@click.option("--demo-seeds", default="",
              help="Comma-separated corpus draws (demo seeds); the design draw, 0, is reported apart from the others "
                   "(empty: the plan's).")
@click.option("--demo-speakers", default=0, type=INT,
              help="IEMOCAP speakers of the scenarios' demo corpora (0: the plan's, IEMOCAP's 10).")
@click.option("--demo-profile", default="demo", show_default=True,
              type=click.Choice(["tiny", "demo", "iemocap-scale"]), help="Size of the demo corpora.")
@click.option("--quick", is_flag=True, help="The reduced run: the plan's quick section.")
@click.option("--quick-plan", default="", type=click.Choice(["", "true", "false", "True", "False"]), hidden=True,
              help="--quick as a value (MLproject's -P quick=true).")
@click.option("--power", is_flag=True,
              help="Power curves: the plan's power claims on fresh draws at several numbers of speakers (power.csv, "
                   "power.png).")
@click.option("--power-plan", default="", type=click.Choice(["", "true", "false", "True", "False"]), hidden=True,
              help="--power as a value (MLproject's -P power=true).")
@click.option("--scenarios", default="", help="Comma-separated scenarios (empty: the plan's, every row when full).")
@click.option("--seeds", default=0, type=INT, help="Seeds per (variant, fold) (0: the plan's).")
@click.option("--task", default="", type=click.Choice(["", *TASKS]),
              help="Only the claims of this task, each scenario's studies under it (empty: every scenario in the "
                   "tasks its claims need: the valence scenario's are dimensional).")
@click.option("--tracking-uri", default="", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                 "sqlite:///./mlflow.db).")
@protocol_options
@study_options
def testbed_cmd(profile, demo_seeds, demo_speakers, demo_profile, quick, quick_plan, power, power_plan, scenarios,
                seeds, task, tracking_uri, protocol, folds_file, ray_address, num_cpus, cpus_per_trial, gpus_per_trial,
                max_failures, workers, force) -> None:
    """Does personality help? Every planted-effect scenario's claims checked on fresh demo corpora."""
    quick = quick or _flag(quick_plan)
    power = power or _flag(power_plan)
    from experiments import tracking
    from experiments.profiles import experiment_sections, load_profile
    from experiments.power import run_power
    from experiments.settings import StudySettings, TestbedSettings
    from experiments.testbed import run_testbed, testbed_profile

    if protocol == "cross-corpus":
        raise click.UsageError("the testbed studies each scenario's own corpus; --protocol cross-corpus is the "
                               "ablation's (and train's, tune-k's)")
    protocol, folds_file = check_protocol(protocol, folds_file)
    if demo_speakers:
        check_speakers(demo_speakers, "--demo-speakers")
    tracking.setup_tracking(tracking_uri or None)
    library_profile, _ = load_profile(profile)
    sections = experiment_sections(profile)
    library_profile = testbed_profile(library_profile, sections.get("testbed", {}))
    study = StudySettings(
        k_tuning=sections.get("ablation", {}).get("k_tuning", "per_variant"), k_trials=library_profile.tune.k_trials,
        ray_address=ray_address or os.environ.get("RAY_ADDRESS") or None, num_cpus=num_cpus or None,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_failures=max_failures, workers=workers,
        force=force, register=False, protocol=protocol, folds_file=folds_file)
    settings = TestbedSettings.from_plan(
        sections.get("testbed", {}), quick=quick, power=power, scenarios=scenarios, seeds=seeds,
        demo_seeds=_whole_numbers(demo_seeds, "--demo-seeds"), demo_speakers=demo_speakers,
        demo_profile=demo_profile, study=study, task=task)
    (run_power if power else run_testbed)(library_profile, settings)


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
@click.option("--scenario", default="input_flip", show_default=True, type=click.Choice(scenario_names()),
              help="Which personality effects to plant (paaan/demo/scenarios.py).")
@click.option("--workers", default=0, type=INT,
              help="Synthesis processes (0: every core, 1: this process); the files are the same for any number.")
@click.option("--speakers", default=0, type=INT,
              help="Speakers: 10 (IEMOCAP's; the default), 20, 40, ... (a multiple of 10: two per session, the "
                   "sessions in five folds), each with the profile's utterances per speaker; 20 by default for "
                   "--layout emobox.")
@click.option("--layout", default="iemocap", show_default=True, type=click.Choice(["iemocap", "emobox"]),
              help="iemocap: IEMOCAP's layout; emobox: the acted demo corpus in EmoBox's layout (new speakers, the "
                   "same scenario), with its transcripts CSV.")
def demo_corpus(out: str, seed: int, profile: str, scenario: str, workers: int, speakers: int, layout: str) -> None:
    """Write a synthetic IEMOCAP + SSPNet corpus (real wav audio) with planted personality effects."""
    import time

    from paaan.demo import generate_demo_corpus
    from paaan.demo.emobox import DEFAULT_SPEAKERS, NAME, write_emobox_demo

    started = time.perf_counter()
    speakers = speakers or (10 if layout == "iemocap" else DEFAULT_SPEAKERS)
    check_speakers(speakers, "--speakers")
    write = generate_demo_corpus if layout == "iemocap" else write_emobox_demo
    path = Path(write(out, seed=seed, profile=profile, scenario=scenario, progress=True, workers=workers,
                      speakers=speakers))
    click.echo(f"demo corpus ({layout} layout, {profile}, {speakers} speakers, seed {seed}, scenario {scenario}) "
               f"written to {path} in {time.perf_counter() - started:.1f} s")
    emotion = f"IEMOCAP: {path / 'IEMOCAP_full_release'}" if layout == "iemocap" else f"EmoBox:  {path / NAME}"
    click.echo(f"  {emotion}\n  SSPNet:  {path / 'SSPNet'}\n  truth:   {path / 'ground_truth.json'}")


@main.command("inspect")
@click.argument("corpus", type=click.Choice(["iemocap", "emobox", "sspnet"]))
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
@click.option("--wav-root", default="", help="emobox: the folder the jsonl's wav paths start from.")
@click.option("--transcripts", default="", help="emobox: the transcripts CSV (empty: ROOT/transcripts.csv if any).")
@click.option("--max-files", default=20, type=INT, show_default=True, help="How many skipped files to list.")
@click.option("--sspnet-scale", default="auto", show_default=True, type=click.Choice(SSPNET_SCALES),
              help="Scale of SSPNet's trait scores (auto: detected from all scores; see docs/corpus_formats.md).")
def inspect(corpus: str, root: str, as_json: bool, max_files: int, sspnet_scale: str, wav_root: str,
            transcripts: str) -> None:
    """Summarise a corpus (counts, speakers, what is skipped and why) before spending hours on it."""
    from paaan.data.corpus import emotion_corpus
    from paaan.data.summary import format_summary, summarize_emotion, summarize_iemocap, summarize_sspnet

    if corpus == "iemocap":
        summary = summarize_iemocap(root, max_files=max_files)
    elif corpus == "emobox":
        summary = summarize_emotion(emotion_corpus("emobox", root, wav_root or None, transcripts or None), max_files)
    else:
        summary = summarize_sspnet(root, max_files=max_files, scale=sspnet_scale)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


if __name__ == "__main__":
    main()
