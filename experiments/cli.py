"""The ``paaan`` command: one click group, one thin subcommand per pipeline step.

Each subcommand parses options and calls one function (in ``experiments/`` for the MLflow/Ray steps, in
``paaan`` for library work). Errors from bad input (``paaan.errors.PaaanError``) are printed as one line
naming the file and the problem, with exit status 2, never as a bare traceback.
"""

from __future__ import annotations

import json
import sys

import click

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


@main.command("demo-corpus")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed writes the same files.")
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
@click.option("--max-files", default=20, show_default=True, help="How many skipped files to list.")
def inspect(corpus: str, root: str, as_json: bool, max_files: int) -> None:
    """Summarise a corpus (counts, speakers, what is skipped and why) before spending hours on it."""
    from paaan.data.summary import format_summary, summarize_iemocap, summarize_sspnet

    summary = (summarize_iemocap if corpus == "iemocap" else summarize_sspnet)(root, max_files=max_files)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


if __name__ == "__main__":
    main()
