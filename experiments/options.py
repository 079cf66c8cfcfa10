"""The options the ``paaan`` commands share, and what they resolve to: the corpora and profile (``setup``), the
protocol (``check_protocol``, ``resolve_protocol``). ``experiments.cli`` holds the commands.

Imports of pandas, torch, MLflow and the library are deferred into the functions that need them: ``paaan --help``
and option errors stay fast.
"""

from __future__ import annotations

from pathlib import Path

import click


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


def scenario_names() -> list[str]:
    from paaan.demo.scenarios import BY_NAME

    return list(BY_NAME)


def with_options(options: list, func):
    """``func`` decorated with ``options`` in the order given (as if written above it, top to bottom)."""
    for option in reversed(options):
        func = option(func)
    return func


def protocol_options(func):
    """How a step splits the corpus into folds (paaan/data/folds.py)."""
    options = [
        click.option("--protocol", default="session", show_default=True,
                     type=click.Choice(["session", "speaker", "file", "cross-corpus"]),
                     help="session: leave one session out (5 folds); speaker: leave one speaker out, validating on "
                          "its session partner (10 folds); file: the folds of --folds-file; cross-corpus: train on "
                          "the emotion corpus, test on --test-corpus (5 folds of its speakers)."),
        click.option("--folds-file", default="", help="Fold membership: an EmoBox fold folder "
                                                      "(fold_N/<name>_test_fold_N.jsonl) or a CSV utterance_id,fold."),
    ]
    return with_options(options, func)


def check_protocol(protocol: str, folds_file: str, test_corpus: str = "") -> tuple[str, str | None]:
    """A fold file means protocol "file" (the default "session" gives way to it); "speaker" with one is an error.
    "cross-corpus" needs a test corpus, and a test corpus needs it (``resolve_protocol`` names the test corpus)."""
    if (protocol == "cross-corpus") != bool(test_corpus):
        raise click.UsageError("--protocol cross-corpus needs --test-corpus" if test_corpus == "" else
                               "--test-corpus is read by --protocol cross-corpus only")
    if folds_file:
        if protocol in ("speaker", "cross-corpus"):
            raise click.UsageError(f"--protocol {protocol} does not read a fold file; give --protocol file (or none)")
        return "file", str(Path(folds_file).resolve())
    if protocol == "file":
        raise click.UsageError("--protocol file needs --folds-file")
    return protocol, None


def resolve_protocol(protocol: str, corpora) -> str:
    """``cross-corpus`` as the folds read it: ``cross-corpus:<test corpus' name>`` (paaan.data.folds)."""
    if protocol != "cross-corpus":
        return protocol
    from paaan.data.folds import cross_corpus_protocol

    return cross_corpus_protocol(corpora.test.name)


def corpus_options(func):
    """Options every pipeline step shares: corpora, profile, tracking URI."""
    options = [
        click.option("--iemocap-root", default="", help="IEMOCAP_full_release folder (empty: the demo corpus)."),
        click.option("--sspnet-root", default="", help="SSPNet folder (empty: the demo corpus)."),
        click.option("--emotion-corpus", default="",
                     help="The emotion corpus: emobox:DIR (a corpus folder of EmoBox's data/), iemocap:DIR, or "
                          "emobox:demo (the acted demo corpus in EmoBox's layout); empty: --iemocap-root or the demo."),
        click.option("--wav-root", default="", help="EmoBox: the folder the jsonl's relative wav paths start from "
                                                     "(empty: the corpus folder)."),
        click.option("--transcripts", default="", help="EmoBox: a CSV utterance_id,transcript[,words,starts,ends] "
                                                        "(empty: DIR/transcripts.csv if there is one)."),
        click.option("--test-corpus", default="", help="--protocol cross-corpus: the corpus tested on (the same "
                                                        "specs: emobox:DIR, iemocap:DIR, demo, emobox:demo)."),
        click.option("--test-wav-root", default="", help="--wav-root of the test corpus."),
        click.option("--test-transcripts", default="", help="--transcripts of the test corpus."),
        click.option("--glove", default="", help="Word vectors: glove-6b-50d or a GloVe .txt/.zip path "
                                                  "(empty: the profile's)."),
        click.option("--profile", default="demo", show_default=True, help="Profile name (demo, paper) or YAML path."),
        click.option("--demo-seed", default=0, type=INT, show_default=True, help="Seed of the demo corpus."),
        click.option("--demo-profile", default="demo", show_default=True,
                     type=click.Choice(["tiny", "demo", "iemocap-scale"]), help="Size of the demo corpus."),
        click.option("--demo-speakers", default=10, type=INT, show_default=True,
                     help="IEMOCAP speakers of the demo corpus: 10 (IEMOCAP's), 20, 40, ... (a multiple of 10: two "
                          "per session, the sessions in five folds)."),
        click.option("--demo-scenario", default="input_flip", show_default=True, type=click.Choice(scenario_names()),
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
    return with_options(options, func)


TASKS = ("categorical", "dimensional")  # paaan.tasks.TASKS (not imported here: start-up time)


def task_options(func):
    """What a training step takes besides the corpora: the task, and a real corpus' true traits."""
    func = click.option("--traits", default="", help="A CSV of a real corpus' true Big-Five traits for the oracle "
                        "and shuffled variants (README: True traits from a file).")(func)
    return click.option("--task", default="", type=click.Choice(["", *TASKS]), help="categorical (the paper's, "
                        "UAR) or dimensional (valence, activation, dominance; CCC); empty: the profile's.")(func)


def check_speakers(speakers: int, option: str) -> None:
    """A number of demo speakers the generator and the folds accept (paaan.demo.plan.check_speakers), or a
    usage error naming the option."""
    from paaan.demo.plan import check_speakers

    try:
        check_speakers(speakers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


CORPUS_SPECS = ("emotion_corpus", "wav_root", "transcripts", "test_corpus", "test_wav_root", "test_transcripts")


def setup(opts: dict):
    """Tracking, profile and corpora from the shared options."""
    from experiments import tracking
    from experiments.corpora import resolve_corpora, with_traits
    from experiments.profiles import load_profile

    check_speakers(opts["demo_speakers"], "--demo-speakers")
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
    try:
        corpora = resolve_corpora(opts["iemocap_root"] or None, opts["sspnet_root"] or None,
                                  demo_seed=opts["demo_seed"], demo_profile=opts["demo_profile"],
                                  demo_scenario=opts["demo_scenario"], demo_speakers=opts["demo_speakers"],
                                  **{k: opts[k] for k in CORPUS_SPECS})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if opts.get("traits"):
        corpora = with_traits(corpora, opts["traits"])
    return profile, ablation, corpora


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
    return with_options(options, func)
