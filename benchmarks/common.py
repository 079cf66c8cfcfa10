"""What every benchmark shares: the machine, results as JSON plus a printed table, memory of a process tree,
robust statistics, the small formulas behind the reported ratios (FLOPs, efficiencies), the training
set-up of the training benchmarks (profile, model, a stand-in personality), child ``paaan`` commands from a
cold start, and the runs of a tracking store.

Every benchmark runs from the repository root as ``python -m benchmarks.<name>``.

The formulas are pure functions with hand-worked tests in ``tests/test_benchmarks.py``. Nothing here is
imported by the library; the benchmarks import the library, never the other way round.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_WORK = Path(os.environ.get("PAAAN_BENCH_WORK", "/tmp/paaan-bench"))  # corpora, stores, mlflow.db
SCALE_CORPUS = "iemocap-scale"


# --- the machine -------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    """What a figure was measured on: cores, memory, CPU, GPU, library versions, load at the time."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cores": os.cpu_count(), "memory_gib": memory_gib(), "cpu": cpu_model(), "gpu": gpu,
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "load_average": [round(x, 2) for x in os.getloadavg()]}


# --- results -----------------------------------------------------------------------------------------------


def write_result(name: str, figures: dict[str, Any], started: float | None = None) -> Path:
    """benchmarks/results/<name>.json: the figures with the command, date and machine that produced them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "command": command_line(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1) if started is not None else None,
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=_jsonable))
    print(f"\nwrote {path.relative_to(REPO)}")
    return path


def command_line() -> str:
    """How this process was started: ``python -m benchmarks.bench_grid --keep`` (a module run with ``-m``),
    else ``python <script relative to the repository> <arguments>``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", spec.name] if spec is not None and spec.name else [_relative(sys.argv[0])]
    return " ".join(["python", *program, *sys.argv[1:]])


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return path


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    return str(value)


def print_table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


# --- statistics and ratios (hand-worked tests in tests/test_benchmarks.py) ---------------------------------


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def scaling_efficiency(rate_parallel: float, rate_serial: float, workers: int) -> float:
    """Speed-up per worker: rate with ``workers`` / (workers x rate with one). 2 workers at 1.8x: 0.9."""
    return rate_parallel / (workers * rate_serial)


def parallel_efficiency(busy_seconds: float, wall_seconds: float, cpus: float) -> float:
    """Share of the CPU slots doing trial work: sum of trial times / (wall time x CPUs).

    Two CPUs, 100 s of wall time, trials summing to 170 s: 170 / 200 = 0.85.
    """
    return busy_seconds / (wall_seconds * cpus)


def slowdown(ours_seconds: float, bare_seconds: float) -> float:
    """How much slower than the bare baseline, as a fraction: 11 s against 10 s is 0.10 (10% slower)."""
    return ours_seconds / bare_seconds - 1.0


def lstm_flops(steps: int, input_size: int, hidden: int, directions: int = 1) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of an LSTM's gate matrices over ``steps`` time steps.

    Each step and direction computes the four gates W_ih x + W_hh h: a (4H x I) and a (4H x H) matrix-vector
    product, 2 * 4H * (I + H) FLOPs; the element-wise gate arithmetic (about 10H) is left out. One step of a
    bidirectional LSTM with I = 45, H = 128: 2 * 2 * 512 * 173 = 354,304.
    """
    return 2 * directions * steps * 4 * hidden * (input_size + hidden)


def non_lstm_flops(per_module: dict[str, int]) -> int:
    """FlopCounterMode's total ("Global") minus what it attributed to LSTM modules (names ending ``.lstm`` or
    ``lstm``): the FLOPs of every other layer. {"Global": 100, "M.blstm_a.lstm": 60, "M.blstm_a": 60,
    "M.head": 40} gives 40."""
    lstm = sum(v for k, v in per_module.items() if k.split(".")[-1] == "lstm" and "." in k)
    return per_module.get("Global", 0) - lstm


def gflops_per_second(flops: float, seconds: float) -> float:
    return flops / seconds / 1e9


def peak_gflops(cores: int, ghz: float, flops_per_cycle: int) -> float:
    """Theoretical FP32 peak: cores x GHz x FLOPs per cycle per core.

    Zen 4/5 with AVX-512: two 512-bit FMA pipes x 16 float lanes x 2 FLOPs = 64 FLOPs per cycle; 2 cores at
    2.6 GHz: 2 * 2.6 * 64 = 332.8 GFLOP/s.
    """
    return cores * ghz * flops_per_cycle


# --- the training set-up of bench_train.py and bench_paper.py ----------------------------------------------


def bench_profile(name: str, **train: Any):
    """Profile ``name`` (demo, paper or a YAML path) with some ``train`` values changed: ``epochs=1``."""
    from experiments.profiles import load_profile

    profile, _ = load_profile(name)
    return profile.replace(train=train)


def build(variant_name: str, profile, data, seed: int = 0):
    """The seeded model of ``variant_name`` at ``profile``'s sizes, for the word vectors of ``data``."""
    from paaan.models import build_model
    from paaan.variants import get_variant

    return build_model(get_variant(variant_name), profile.model, word_dim=data.words[0].shape[1],
                       prev1=profile.prev1, prev2=profile.prev2, seed=seed)


def random_embeddings(speakers: Iterable[str], seed: int = 0):
    """A seeded stand-in for the retrieved 25-d embeddings, one row per speaker (speed does not depend on the
    values): the speaker -> embedding frame ``train_fold`` takes."""
    import numpy as np
    import pandas as pd

    from paaan.retrieval import EMBEDDING_COLUMNS

    speakers = sorted(set(speakers))
    values = np.random.default_rng(seed).standard_normal((len(speakers), len(EMBEDDING_COLUMNS)))
    return pd.DataFrame(values, index=speakers, columns=list(EMBEDDING_COLUMNS))


def random_personality(speakers: Sequence[str], seed: int = 0):
    """``random_embeddings`` as the (n_utterances, 25) float32 rows ``fit`` and ``collate`` take, for the
    speaker of each utterance."""
    from paaan.personality import as_array

    return as_array(random_embeddings(speakers, seed), speakers)


# --- memory of a process tree ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        pass
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/<pid>/task/*/children)."""
    seen, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        if pid in seen:
            continue
        seen.append(pid)
        frontier += _children(pid)
    return seen


def resident_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB from /proc/<pid>/smaps_rollup; (0, 0) once it is gone.

    PSS (proportional set size) divides each shared page among the processes sharing it, so PSS summed
    over a tree counts every page once; RSS summed over forked workers counts shared libraries repeatedly.
    """
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Sampler:
    """Calls ``poll`` in a daemon thread every ``every`` seconds, the first time at once, from ``__enter__``
    until ``__exit__``: the loop of every sampler of a benchmark (``TreeMemory``, gpu_check's device memory)."""

    def __init__(self, every: float = 0.5):
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class TreeMemory(Sampler):
    """Samples the summed RSS and PSS of a process tree in a thread; ``peak_*_gib`` after ``stop``.

    ``with TreeMemory(os.getpid()) as mem: ...`` follows this process and everything it starts (pool
    workers, Ray's daemons and workers: they are its descendants when it starts the local cluster).
    """

    def __init__(self, root: int | None = None, every: float = 0.5):
        super().__init__(every)
        self.root = root or os.getpid()
        self.peak_rss_kib = self.peak_pss_kib = 0
        self.peak_processes = 0

    def sample(self) -> tuple[int, int, int]:
        pids = process_tree(self.root)
        sizes = [resident_kib(p) for p in pids]
        return sum(s[0] for s in sizes), sum(s[1] for s in sizes), len(pids)

    def poll(self) -> None:
        rss, pss, n = self.sample()
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_processes = max(self.peak_processes, n)

    @property
    def peak_rss_gib(self) -> float:
        return round(self.peak_rss_kib / 2**20, 2)

    @property
    def peak_pss_gib(self) -> float:
        return round(self.peak_pss_kib / 2**20, 2)

    def figures(self) -> dict[str, float]:
        return {"peak_pss_gib": self.peak_pss_gib, "peak_rss_sum_gib": self.peak_rss_gib,
                "peak_processes": self.peak_processes}


# --- corpora -----------------------------------------------------------------------------------------------


def demo_corpus(profile: str = SCALE_CORPUS, seed: int = 0, work: Path = DEFAULT_WORK) -> Path:
    """The demo corpus of ``profile`` under the work folder, generated on first use (iemocap-scale ~4 min)."""
    root = Path(work) / f"{profile}-seed{seed}"
    if not (root / "ground_truth.json").is_file():
        from paaan.demo import generate_demo_corpus

        print(f"generating the {profile} demo corpus in {root} ...", flush=True)
        generate_demo_corpus(root, seed=seed, profile=profile, progress=True)
    return root


def scale_store(work: Path = DEFAULT_WORK) -> Path:
    """The iemocap-scale feature store: the one ``bench_featurize.py`` wrote (its tracking store under
    ``<work>/featurize``), else a featurize run made now in ``<work>/store`` (about 10 minutes on 2 cores)."""
    from experiments import tracking
    from experiments.corpora import resolve_corpora
    from experiments.featurize import run_featurize, store_of

    from paaan.config import FeatureConfig

    corpus = demo_corpus(work=work)
    folder = Path(work) / "featurize"
    if not (folder / "mlflow.db").is_file():
        folder = Path(work) / "store"
        folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PAAAN_CACHE", str(folder / "cache"))
    tracking.setup_tracking(f"sqlite:///{folder / 'mlflow.db'}")
    # The newest finished featurize run of this store, even if the featurization code changed since (its
    # cache key then differs): training and serving speed do not depend on that, and recomputing costs minutes.
    from mlflow.tracking import MlflowClient

    runs = MlflowClient().search_runs(
        [tracking.experiment_id()], filter_string=f"tags.`{tracking.TAG_STEP}` = 'featurize' and "
        "attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"], max_results=1)
    if runs and tracking.TAG_REUSED not in runs[0].data.tags:
        return store_of(runs[0].info.run_id).path
    corpora = resolve_corpora(str(corpus / "IEMOCAP_full_release"), str(corpus / "SSPNet"), progress=False)
    run_id = run_featurize(corpora, FeatureConfig(), workers=0, progress=False)
    return store_of(run_id).path


# --- child paaan commands from a cold start ----------------------------------------------------------------


def fresh_folder(folder: Path) -> Path:
    """``folder`` emptied (removed and made again): a cold start's tracking store, caches and logs go here."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def cold_env(folder: Path, drop: Sequence[str] = ("MLFLOW_",), **extra: str) -> dict[str, str]:
    """This process' environment for a child ``paaan`` command with a cold start in ``folder``: its own
    openSMILE/tagger cache (``folder/cache``) and Ray results (``folder/ray_results``), unbuffered output and
    ``extra``, without the variables ``drop`` names (a name ending in ``_`` drops every variable starting with
    it: the default keeps this process' MLflow settings out of the child)."""
    env = dict(os.environ, PAAAN_CACHE=str(folder / "cache"), PAAAN_RAY_RESULTS=str(folder / "ray_results"),
               PYTHONUNBUFFERED="1", **extra)
    for key in [k for k in env if any(k.startswith(d) if d.endswith("_") else k == d for d in drop)]:
        env.pop(key)
    return env


def run_logged(command: Sequence[str], env: dict[str, str], log: Path, name: str,
               memory: bool = False) -> tuple[float, TreeMemory | None]:
    """Run ``command`` in the repository with ``env``, its stdout and stderr into the file ``log``: its wall
    seconds and, with ``memory``, the ``TreeMemory`` of its process tree (sampled every 0.5 s; else None).
    A non-zero exit raises SystemExit("<name> failed (exit N); log tail:" and the log's last 3000 characters)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(list(command), env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        with (TreeMemory(process.pid, every=0.5) if memory else contextlib.nullcontext()) as sampled:
            code = process.wait()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{name} failed (exit {code}); log tail:\n{Path(log).read_text()[-3000:]}")
    return wall, sampled


def run_ablation(corpus: Path, folder: Path, profile: str, variants: str, cpus: int, extra: list[str],
                 log_name: str = "ablation.log") -> tuple[float, TreeMemory]:
    """``paaan ablation`` as a child process on the demo corpus ``corpus`` with its tracking store, cache and
    Ray results in ``folder`` (and ``extra`` options): its wall seconds and the memory of its process tree."""
    env = cold_env(folder, drop=("MLFLOW_TRACKING_URI",))
    command = [sys.executable, "-m", "experiments.cli", "ablation",
               "--iemocap-root", str(corpus / "IEMOCAP_full_release"), "--sspnet-root", str(corpus / "SSPNet"),
               "--profile", profile, "--variants", variants, "--num-cpus", str(cpus),
               "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", *extra]
    print("$ " + " ".join(command), flush=True)
    return run_logged(command, env, folder / log_name, "the ablation", memory=True)


# --- the runs of a tracking store --------------------------------------------------------------------------


def experiment_runs(uri: str, step: str | None = None, filter_string: str = "", max_results: int = 50000,
                    **search: Any) -> list:
    """The runs of the ``paaan`` experiment in the tracking store at ``uri`` (MLflow's default order: newest
    first): those tagged ``paaan.step = step`` when given, that also match ``filter_string``; ``search``
    (``order_by``) goes to ``MlflowClient.search_runs``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("paaan")
    where = [f"tags.`paaan.step` = '{step}'"] if step else []
    where += [filter_string] if filter_string else []
    return client.search_runs([experiment.experiment_id], filter_string=" and ".join(where),
                              max_results=max_results, **search)


def newest_run(runs: Iterable, step: str, params: dict[str, str] | None = None):
    """The run of ``runs`` tagged ``paaan.step = step`` (and with these ``params``, when given) that started last."""
    return max((r for r in runs if r.data.tags.get("paaan.step") == step
                and all(r.data.params.get(k) == v for k, v in (params or {}).items())),
               key=lambda r: r.info.start_time)


def this_ablation(ablation, runs: list) -> list:
    """The runs of this command's ablation: the descendants of its run (``mlflow.parentRunId`` links: steps,
    tune_k runs and their k trials, grid trials, summaries) that started with it or later.

    With ``--keep`` the store holds earlier commands' runs too, and a resumed ablation adopts finished trials
    of an earlier attempt: neither belongs in this command's phases and overheads. One search over the
    experiment, walked here, rather than one ``experiments.runs.children`` query per parent.
    """
    below: dict[str, list] = {}
    for run in runs:
        below.setdefault(run.data.tags.get("mlflow.parentRunId"), []).append(run)
    found, frontier = [], [ablation.info.run_id]
    while frontier:
        for run in below.get(frontier.pop(), []):
            frontier.append(run.info.run_id)
            if run.info.start_time >= ablation.info.start_time:
                found.append(run)
    return found
