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

# paaan.data.schema.SCALE_NAMES, spelled out: importing paaan.data loads pandas, which the CLI defers to the
# command that needs it (tests/test_data.py keeps the two equal).
SSPNET_SCALES = ("auto", "bfi10", "likert5", "continuous100")


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


def _scenario_names() -> list[str]:
    from paaan.demo.scenarios import BY_NAME

    return list(BY_NAME)


def protocol_options(func):
    """How a step splits the corpus into folds (paaan/data/folds.py)."""
    options = [
        click.option("--protocol", default="session", show_default=True, type=click.Choice(["session", "speaker", "file"]),
                     help="session: leave one session out (5 folds); speaker: leave one speaker out, validating on "
                          "its session partner (10 folds); file: the folds of --folds-file."),
        click.option("--folds-file", default="", help="Fold membership: an EmoBox fold folder "
                                                      "(fold_N/<name>_test_fold_N.jsonl) or a CSV utterance_id,fold."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _protocol(protocol: str, folds_file: str) -> tuple[str, str | None]:
    """A fold file means protocol "file" (the default "session" gives way to it); "speaker" with one is an error."""
    if folds_file:
        if protocol == "speaker":
            raise click.UsageError("--protocol speaker does not read a fold file; give --protocol file (or none)")
        return "file", str(Path(folds_file).resolve())
    if protocol == "file":
        raise click.UsageError("--protocol file needs --folds-file")
    return protocol, None


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
        click.option("--demo-speakers", default=10, type=INT, show_default=True,
                     help="IEMOCAP speakers of the demo corpus: 10 (IEMOCAP's), 20, 40, ... (a multiple of 10: two "
                          "per session, the sessions in five folds)."),
        click.option("--demo-scenario", default="input_flip", show_default=True, type=click.Choice(_scenario_names()),
                     help="The demo corpus' planted-effect scenario (paaan/demo/scenarios.py)."),
        click.option("--sspnet-scale", default="", type=click.Choice(["", *SSPNET_SCALES]),
                     help="SSPNet's score scale (empty: the profile's, auto-detected by default)."),
        click.option("--audio-features", default="",
                     help="A folder of one's own frame-level features (<utterance_id>.npy, float32 (T, F), and "
                          "features.json) used instead of the 45 openSMILE LLDs, pooled to 40 ms steps "
                          "(README: Your own acoustic features; empty: the profile's)."),
        click.option("--functionals", "functionals_dir", default="",
                     help="A folder of one's own utterance vectors (iemocap/<utterance_id>.npy, sspnet/<clip>.npy, "
                          "float32 (F,), and features.json) used for SHLA and retrieval instead of openSMILE's IS10 "
                          "functionals (empty: the profile's)."),
        click.option("--tracking-uri", default="", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                         "sqlite:///./mlflow.db)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


TASKS = ("categorical", "dimensional")  # paaan.tasks.TASKS (not imported here: start-up time)


def task_options(func):
    """What a training step takes besides the corpora: the task, and a real corpus' true traits."""
    func = click.option("--traits", default="", help="A CSV of a real corpus' true Big-Five traits for the oracle "
                        "and shuffled variants (README: True traits from a file).")(func)
    return click.option("--task", default="", type=click.Choice(["", *TASKS]), help="categorical (the paper's, "
                        "UAR) or dimensional (valence, activation, dominance; CCC); empty: the profile's.")(func)


def _check_speakers(speakers: int, option: str) -> None:
    """A number of demo speakers the generator and the folds accept (paaan.demo.plan.check_speakers), or a
    usage error naming the option."""
    from paaan.demo.plan import check_speakers

    try:
        check_speakers(speakers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _setup(opts: dict):
    """Tracking, profile and corpora from the shared options."""
    from experiments import tracking
    from experiments.corpora import resolve_corpora, with_traits
    from experiments.profiles import load_profile

    _check_speakers(opts["demo_speakers"], "--demo-speakers")
    tracking.setup_tracking(opts["tracking_uri"] or None)
    profile, ablation = load_profile(opts["profile"])
    if opts["glove"]:
        profile = profile.replace(features={"glove": opts["glove"]})
    if opts.get("sspnet_scale"):
        profile = profile.replace(features={"sspnet_scale": opts["sspnet_scale"]})
    for field in ("audio_features", "functionals_dir"):  # absolute: Ray trials run in other folders
        if opts.get(field):
            profile = profile.replace(features={field: str(Path(opts[field]).expanduser().resolve())})
    if opts.get("task"):
        profile = profile.replace(train={"task": opts["task"]})
    corpora = resolve_corpora(opts["iemocap_root"] or None, opts["sspnet_root"] or None,
                              demo_seed=opts["demo_seed"], demo_profile=opts["demo_profile"],
                              demo_scenario=opts["demo_scenario"], demo_speakers=opts["demo_speakers"])
    if opts.get("traits"):
        corpora = with_traits(corpora, opts["traits"])
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
    from paaan.personality import PersonalitySource

    profile, _, corpora = _setup(opts)
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

    protocol, folds_file = _protocol(protocol, folds_file)
    profile, _, corpora = _setup(opts)
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

    protocol, folds_file = _protocol(protocol, folds_file)
    profile, _, corpora = _setup(opts)
    run_id = run_tune_k(corpora, profile, get_variant(variant), fold, trials or profile.tune.k_trials, seed=seed,
                        protocol=protocol, folds_file=folds_file)
    click.echo(f"tune_k run: {run_id}")


def study_options(func):
    """What the ablation and the testbed share: Ray, resources, retries, featurize workers."""
    options = [
        click.option("--ray-address", default="",
                     help="An existing Ray cluster (e.g. 10.0.0.5:6379); empty: $RAY_ADDRESS, else a new local one."),
        click.option("--num-cpus", default=0, type=INT, help="CPUs of the local Ray cluster (0: every core)."),
        click.option("--cpus-per-trial", default=1.0, show_default=True),
        click.option("--gpus-per-trial", default=0.0, show_default=True, help="Fractions share a GPU (e.g. 0.25)."),
        click.option("--max-failures", default=2, type=INT, show_default=True, help="Ray retries of a failed trial."),
        click.option("--workers", default=0, type=INT, help="featurize processes (0: every core)."),
        click.option("--force", is_flag=True, help="Run again even if a finished run has the same inputs."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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

    protocol, folds_file = _protocol(protocol, folds_file)
    profile, ablation, corpora = _setup(opts)
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

    protocol, folds_file = _protocol(protocol, folds_file)
    if demo_speakers:
        _check_speakers(demo_speakers, "--demo-speakers")
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
@click.option("--scenario", default="input_flip", show_default=True, type=click.Choice(_scenario_names()),
              help="Which personality effects to plant (paaan/demo/scenarios.py).")
@click.option("--workers", default=0, type=INT,
              help="Synthesis processes (0: every core, 1: this process); the files are the same for any number.")
@click.option("--speakers", default=10, type=INT, show_default=True,
              help="IEMOCAP speakers: 10 (IEMOCAP's), 20, 40, ... (a multiple of 10: two per session, the sessions "
                   "in five folds), each with the profile's utterances per speaker.")
def demo_corpus(out: str, seed: int, profile: str, scenario: str, workers: int, speakers: int) -> None:
    """Write a synthetic IEMOCAP + SSPNet corpus (real wav audio) with planted personality effects."""
    import time

    from paaan.demo import generate_demo_corpus

    started = time.perf_counter()
    _check_speakers(speakers, "--speakers")
    path = generate_demo_corpus(out, seed=seed, profile=profile, scenario=scenario, progress=True, workers=workers,
                                speakers=speakers)
    click.echo(f"demo corpus ({profile}, {speakers} speakers, seed {seed}, scenario {scenario}) written to {path} in "
               f"{time.perf_counter() - started:.1f} s")
    click.echo(f"  IEMOCAP: {path / 'IEMOCAP_full_release'}\n  SSPNet:  {path / 'SSPNet'}\n"
               f"  truth:   {path / 'ground_truth.json'}")


@main.command("inspect")
@click.argument("corpus", type=click.Choice(["iemocap", "sspnet"]))
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
@click.option("--max-files", default=20, type=INT, show_default=True, help="How many skipped files to list.")
@click.option("--sspnet-scale", default="auto", show_default=True, type=click.Choice(SSPNET_SCALES),
              help="Scale of SSPNet's trait scores (auto: detected from all scores; see docs/corpus_formats.md).")
def inspect(corpus: str, root: str, as_json: bool, max_files: int, sspnet_scale: str) -> None:
    """Summarise a corpus (counts, speakers, what is skipped and why) before spending hours on it."""
    from paaan.data.summary import format_summary, summarize_iemocap, summarize_sspnet

    if corpus == "iemocap":
        summary = summarize_iemocap(root, max_files=max_files)
    else:
        summary = summarize_sspnet(root, max_files=max_files, scale=sspnet_scale)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


if __name__ == "__main__":
    main()
