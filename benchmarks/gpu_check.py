"""The GPU check: what has to hold before the study's GPU figures can be trusted, in one run of a few minutes.

    bash benchmarks/gpu_check.sh                      # installs what is missing, then runs this with a time limit
    python -m benchmarks.gpu_check [--device cuda] [--steps train,agree,grid,project] [--work DIR]
                                   [--store DIR --ground-truth FILE] [--epochs 3] [--gpus-per-trial 0.25]
                                   [--k-epoch-share 0.3] [--dry-run]

Steps (``--steps`` picks some, in this order):

- train: one fold (fold 1) of each model family on ``--device`` for ``--epochs`` epochs at the paper
  profile's sizes: A+T (blstm_attention), PAaAN_oracle (paaan; the demo corpus' true personalities, so no
  retrieval is needed), Prev1, Prev2. Every epoch's loss must be finite, the model must have run on the
  device (CUDA memory was allocated), and the utterances per second of an epoch are reported.
- agree: the CPU and ``--device`` forward passes of the same weights (seed 0, paper sizes, eval mode) on one
  fixed batch of 8 utterances of different lengths, per family: logits, the attention weights alpha_A and
  alpha_T, and Prev1/Prev2's utterance embedding, element-wise within ``TOLERANCES`` (below: the why).
  With ``--device cpu`` the same check runs CPU against CPU (the machinery, testable without a GPU).
- grid: a reduced ablation with fractional GPUs per trial: ``paaan ablation`` on the demo corpus, profile
  ``demo`` at ``GRID_EPOCHS`` epochs and 2 k trials, variants A+T, PAaAN_PP, Prev1, Prev2,
  ``--gpus-per-trial 0.25`` (four trials share the GPU), ``--no-register``. It must finish with every trial
  run FINISHED and nothing RUNNING; the GPU memory in use while it runs (sampled every 0.5 s) must rise by
  more than ``GRID_MIN_GPU_MIB`` (the trials' CUDA contexts and tensors: proof that the trials used the GPU),
  and the most trials running at once is reported.
- project: the cost of a PAaAN_PP fold on the device at the paper profile (``train_fold`` with 1 and 3
  epochs after an untimed warm-up: fixed + per-epoch), every Table I variant's cost per training utterance, and the full study
  projected from them with ``bench_paper``'s own projection (its trials, rows scaled from the demo corpus'
  fold to IEMOCAP's sessions), one trial at a time on the GPU, with every k trial training its whole
  schedule and, given ``--k-epoch-share`` (bench_paper's measured ASHA share, ``k_search.asha.share``), ASHA on.

Every failure raises (the process exits non-zero). ``--dry-run`` lists the steps and exits. The corpus:
the ``demo`` demo corpus generated into ``--work`` and featurized there, or a feature store already made
(``--store``, with ``--ground-truth`` its corpus' ground_truth.json; ``--prepare DIR`` writes both) for a
machine without openSMILE, espeak-ng or a registry: train, agree and project then need only torch, numpy,
pandas, pyarrow, scipy, scikit-learn, pyyaml, tqdm, psutil and soundfile.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (DEFAULT_WORK, REPO, Sampler, cold_env, experiment_runs, fresh_folder, print_table,
                               write_result)

STEPS = ("train", "agree", "grid", "project")
FAMILIES = {"blstm_attention": "A+T", "paaan": "PAaAN_oracle", "prev1": "Prev1", "prev2": "Prev2"}
AGREE_VARIANTS = ("A+T", "PAaAN_PP", "Prev1", "Prev2")  # one per family; PAaAN_PP: a retrieval variant's net
GRID_VARIANTS = "A+T,PAaAN_PP,Prev1,Prev2"
GRID_EPOCHS = 4
GRID_MIN_GPU_MIB = 256

# Element-wise |cpu - device| <= atol + rtol * |cpu|, with TF32 off (float32 throughout). The two passes
# compute the same float32 functions by different kernels: oneDNN's fused LSTM over padded, within-length
# reversed batches on the CPU, cuDNN over packed sequences on the GPU, and different summation orders in
# every matrix product. Each product of a 128-unit layer rounds at about 1e-7 relative; over a recurrence of
# up to 200 steps and the layers after it that grows to ~1e-6 on logits of magnitude ~1, so 1e-4 leaves two
# orders of margin for float rounding while a real disagreement (a padded step leaking into a state, a wrong
# direction, a mask off by one) moves logits by 1e-2 or more. Attention weights are probabilities in [0, 1]
# that sum to 1, a softmax over those logits' scale: an absolute 1e-5. With TF32 allowed (cuDNN's default
# for its RNNs), products round at 2^-11 (~5e-4) and the differences are reported, not checked.
TOLERANCES = {"logits": (1e-4, 1e-4), "alpha_audio": (1e-5, 0.0), "alpha_text": (1e-5, 0.0),
              "embedding": (1e-4, 1e-4)}


class CheckFailed(AssertionError):
    """A GPU check did not hold."""


def check(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


# --- agree: CPU and device forward passes of the same weights ----------------------------------------------


def fixed_batch(n: int = 8, audio_dim: int = 45, word_dim: int = 50, seed: int = 0, max_steps: int = 150):
    """A seeded batch of ``n`` utterances of different lengths (audio 7..max_steps steps, 1..30 words), each
    audio step tied to the word it falls in (a few steps in none), with a 25-d personality: it exercises
    padding, packing, masks and the time alignment."""
    import torch

    from paaan.models import NO_WORD, make_batch

    g = torch.Generator().manual_seed(seed)
    steps = torch.linspace(7, max_steps, n).round().long().tolist()[::-1]  # longest first, then shorter
    audio, words, step_word = [], [], []
    for i, T in enumerate(steps):
        W = max(1, min(30, T // 5 - i))
        audio.append(torch.randn(T, audio_dim, generator=g))
        words.append(torch.randn(W, word_dim, generator=g))
        sw = (torch.arange(T) * W // T).long()
        sw[torch.rand(T, generator=g) < 0.1] = NO_WORD  # silence between words
        step_word.append(sw)
    return make_batch(audio, words, step_word, personality=torch.randn(n, 25, generator=g),
                      labels=torch.arange(n) % 4)


def compare_outputs(reference, other) -> dict[str, dict]:
    """Per output field present in both (logits, alpha_audio, alpha_text, embedding): the largest absolute
    difference and whether every element lies within ``TOLERANCES``."""
    import torch

    out = {}
    for field, (atol, rtol) in TOLERANCES.items():
        a, b = getattr(reference, field), getattr(other, field)
        if a is None or b is None:
            continue
        b = b.detach().to("cpu", torch.float64)
        a = a.detach().to("cpu", torch.float64)
        if a.shape != b.shape:
            out[field] = {"max_abs": float("inf"), "ok": False, "atol": atol, "rtol": rtol}
            continue
        diff = (a - b).abs()
        out[field] = {"max_abs": float(diff.max()), "ok": bool((diff <= atol + rtol * a.abs()).all()),
                      "atol": atol, "rtol": rtol}
    return out


@contextlib.contextmanager
def tf32(allowed: bool):
    """TF32 matrix products and cuDNN convolutions/RNNs on or off inside the block (restored after)."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def forward_agreement(model, batch, device: str, reference: str = "cpu") -> dict[str, dict]:
    """``compare_outputs`` of one model's forward pass on ``reference`` and on ``device`` (same weights:
    two copies of ``model``, in eval mode, so no dropout)."""
    import torch

    ref, dev = copy.deepcopy(model).to(reference).eval(), copy.deepcopy(model).to(device).eval()
    with torch.no_grad():
        a = ref(batch.to(reference))
        b = dev(batch.to(device))
    return compare_outputs(a, b)


def agreement(variants, profile, device: str, seed: int = 0, word_dim: int = 50) -> list[dict]:
    """Per variant: ``forward_agreement`` with TF32 off (checked) and with TF32 allowed (reported only, on
    CUDA). Raises CheckFailed naming every field outside its tolerance."""
    from paaan.models import build_model
    from paaan.variants import get_variant

    batch = fixed_batch(word_dim=word_dim, seed=seed)
    rows, failures = [], []
    for name in variants:
        model = build_model(get_variant(name), profile.model, word_dim=word_dim, prev1=profile.prev1,
                            prev2=profile.prev2, seed=seed)
        with tf32(False):
            strict = forward_agreement(model, batch, device)
        row = {"variant": name, "device": device, "strict": strict}
        if device.startswith("cuda"):
            with tf32(True):
                row["tf32"] = {k: v["max_abs"] for k, v in forward_agreement(model, batch, device).items()}
        rows.append(row)
        failures += [f"{name} {field}: max |diff| {v['max_abs']:.3g} > {v['atol']:g} + {v['rtol']:g}|x|"
                     for field, v in strict.items() if not v["ok"]]
        check("logits" in strict, f"{name}: no logits compared")
    check(not failures, "CPU and " + device + " forward passes disagree: " + "; ".join(failures))
    return rows


# --- the corpus --------------------------------------------------------------------------------------------


def demo_store(work: Path, workers: int = 0) -> tuple[Path, Path, Path]:
    """(feature store, ground_truth.json, corpus root) of the ``demo`` demo corpus under ``work``, generated
    and featurized on first use (the library's featurize: no MLflow)."""
    from benchmarks.common import demo_corpus

    corpus = demo_corpus("demo", work=work)
    store = work / "gpu-check-store"
    if not (store / "manifest.json").is_file():
        from paaan.features.pipeline import featurize

        shutil.rmtree(store, ignore_errors=True)
        os.environ.setdefault("PAAAN_CACHE", str(work / "cache"))
        print(f"featurizing {corpus} ...", flush=True)
        featurize(corpus / "IEMOCAP_full_release", corpus / "SSPNet", store, workers=workers, progress=False)
    return store, corpus / "ground_truth.json", corpus


# --- train: one fold per family ----------------------------------------------------------------------------


def train_families(store, ground_truth: Path, device: str, epochs: int) -> list[dict]:
    """One fold of each family for ``epochs`` epochs at paper sizes on ``device``; raises unless every loss
    is finite and (on CUDA) the device held the model."""
    import math

    import torch

    from benchmarks.common import bench_profile, median
    from paaan.personality import oracle_embeddings
    from paaan.train import train_fold
    from paaan.variants import get_variant

    profile = bench_profile("paper", epochs=epochs)
    personality = oracle_embeddings(ground_truth)
    rows = []
    for family, name in FAMILIES.items():
        variant = get_variant(name)
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = train_fold(store, variant, 1, profile, personality=personality if variant.uses_personality else None,
                            seed=0, device=device, want_attention=False)
        seconds = time.perf_counter() - started
        losses = [h["train_loss"] for h in result.history]
        check(len(losses) == epochs, f"{name}: {len(losses)} epochs run, {epochs} asked")
        check(all(math.isfinite(x) for x in losses), f"{name}: a training loss is not finite: {losses}")
        check(math.isfinite(result.metrics.get("uar", float("nan"))), f"{name}: no test UAR")
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
        check(not cuda or peak > 1.0, f"{name}: no CUDA memory was allocated: it did not train on {device}")
        # an epoch after the first (cuDNN's autotuning, allocations), validation included
        epoch_seconds = median(h["seconds"] for h in result.history[1:]) if epochs > 1 else result.history[0]["seconds"]
        rows.append({"family": family, "variant": name, "epochs": epochs, "seconds": round(seconds, 1),
                     "train_utterances": result.train_utterances, "epoch_seconds": round(epoch_seconds, 3),
                     "utterances_per_second": round(result.train_utterances / epoch_seconds, 1),
                     "train_loss": [round(x, 4) for x in losses], "test_uar": round(result.metrics["uar"], 3),
                     "peak_cuda_mib": round(peak, 1)})
        print(f"  {name}: {rows[-1]['utterances_per_second']} utt/s, losses {rows[-1]['train_loss']}", flush=True)
    return rows


# --- grid: a reduced ablation with fractional GPUs ---------------------------------------------------------


class DeviceMemory(Sampler):
    """Samples the device's memory in use (all processes: ``torch.cuda.mem_get_info``) in a thread."""

    def __init__(self, device: str, every: float = 0.5):
        import torch

        super().__init__(every)
        self.torch, self.device = torch, torch.device(device)
        self.baseline_mib = self.used_mib()
        self.peak_mib = self.baseline_mib

    def used_mib(self) -> float:
        free, total = self.torch.cuda.mem_get_info(self.device)
        return (total - free) / 2**20

    def poll(self) -> None:
        self.peak_mib = max(self.peak_mib, self.used_mib())


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one moment: [(0, 10), (2, 4), (3, 12)] -> 3;
    an interval that ends when another starts does not overlap it."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def grid_profile(folder: Path) -> Path:
    path = folder / "gpu_grid.yaml"
    path.write_text(f"base: demo\nname: gpu_grid\ntrain:\n  epochs: {GRID_EPOCHS}\n  patience: 0\n"
                    "tune:\n  k_trials: 2\n")
    return path


def run_grid(corpus: Path, work: Path, device: str, gpus_per_trial: float) -> dict:
    """``paaan ablation`` with ``--gpus-per-trial`` on the demo corpus; its MLflow runs checked."""
    folder = fresh_folder(work / "gpu-check-grid")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = [sys.executable, "-m", "experiments.cli", "ablation",
               "--iemocap-root", str(corpus / "IEMOCAP_full_release"), "--sspnet-root", str(corpus / "SSPNet"),
               "--profile", str(grid_profile(folder)), "--variants", GRID_VARIANTS, "--k-tuning", "per_source",
               "--no-register", "--tracking-uri", uri]
    if device.startswith("cuda"):
        command += ["--gpus-per-trial", str(gpus_per_trial)]
    env = cold_env(folder, drop=("MLFLOW_", "RAY_", "TUNE_"))
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    with open(folder / "ablation.log", "w") as log:
        memory = DeviceMemory(device) if device.startswith("cuda") else contextlib.nullcontext()
        with memory:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            try:
                code = process.wait()
            except BaseException:  # the time limit (SIGTERM) or Ctrl-C: the ablation closes its runs, stops Ray
                process.terminate()
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                raise
    wall = time.perf_counter() - started
    check(code == 0, f"the ablation failed (exit {code}):\n{(folder / 'ablation.log').read_text()[-3000:]}")
    runs = experiment_runs(uri, max_results=5000)
    running = [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    trials = [r for r in runs if r.data.tags.get("paaan.step") in ("trial", "tune_k_trial")]
    grid = [r for r in trials if r.data.tags.get("paaan.step") == "trial"]
    check(not running, f"runs left RUNNING: {running}")
    check(len(grid) == 4 * 5 and all(r.info.status == "FINISHED" for r in grid),
          f"grid: {len(grid)} trial runs, statuses {sorted({r.info.status for r in grid})}; 20 FINISHED expected")
    parent = [r for r in runs if r.data.tags.get("paaan.step") == "ablation"]
    check([p.info.status for p in parent] == ["FINISHED"], f"ablation runs: {[p.info.status for p in parent]}")
    at_once = most_at_once([(r.info.start_time, r.info.end_time) for r in trials if r.info.end_time])
    out = {"wall_seconds": round(wall, 1), "trials": len(trials), "grid_trials": len(grid),
           "most_trials_at_once": at_once, "gpus_per_trial": gpus_per_trial if device.startswith("cuda") else 0,
           "tracking_store": str(folder / "mlflow.db")}
    if device.startswith("cuda"):
        rise = memory.peak_mib - memory.baseline_mib
        out |= {"gpu_memory_baseline_mib": round(memory.baseline_mib), "gpu_memory_peak_mib": round(memory.peak_mib),
                "gpu_memory_rise_mib": round(rise)}
        check(rise > GRID_MIN_GPU_MIB, f"GPU memory rose by {rise:.0f} MiB during the grid: the trials did not use "
              f"the GPU (> {GRID_MIN_GPU_MIB} MiB expected)")
        check(at_once <= round(1 / gpus_per_trial), f"{at_once} trials at once with {gpus_per_trial} GPU each")
    return out


# --- project: the full study from the device's fold cost ---------------------------------------------------


def project_study(store, device: str, k_epoch_share: float | None, epochs=(1, 3)) -> dict:
    """bench_paper's fold timing (fixed + per epoch) and variant costs on ``device`` at the paper profile, on
    this store's fold 1, and its projection of the full study (IEMOCAP's sessions), one trial at a time."""
    from benchmarks.bench_paper import iemocap_sessions, projections, study_trials, time_fold, variant_costs
    from benchmarks.common import bench_profile
    from paaan.data.folds import get_fold

    full = bench_profile("paper").train.epochs
    time_fold(store, 1, device=device)  # untimed warm-up (cuDNN's plans, the allocator, the corpus tensors)
    t1, t2 = (time_fold(store, e, device=device) for e in epochs)
    per_epoch = (t2 - t1) / (epochs[1] - epochs[0])
    check(per_epoch > 0, f"a fold of {epochs[1]} epochs took {t2:.2f} s, of {epochs[0]}: {t1:.2f} s")
    fixed = max(t1 - epochs[0] * per_epoch, 0.0)
    fold_rows = len(get_fold(store.utterances, 1).train)
    costs = variant_costs(store, 1.0, device=device)
    trials = study_trials(iemocap_sessions())
    fold_seconds = fixed + full * per_epoch
    shares = {"every_k_trial_full": 1.0} | ({"asha_on": k_epoch_share} if k_epoch_share is not None else {})
    # project() sums the trials' seconds; with one trial at a time on the device they are device hours
    projected = {name: {"device_hours": p["cpu_hours"], "device_hours_by_role": p["cpu_hours_by_role"],
                        "trials": p["trials"], "k_epoch_share": p["k_epoch_share"]}
                 for name, p in projections(fold_seconds, fold_rows, costs, trials, 1, 1.0, fixed, shares).items()}
    return {"fold_rows": fold_rows, "fixed_seconds": round(fixed, 2), "seconds_per_epoch": round(per_epoch, 3),
            "utterances_per_second": round(fold_rows / per_epoch, 1),
            f"fold_{full}_epochs_seconds": round(fold_seconds, 1),
            "ms_per_training_utterance": {k: round(v * 1000, 4) for k, v in costs.items()},
            "projection_one_trial_at_a_time": projected}


# --- the run -----------------------------------------------------------------------------------------------


def describe(args) -> list[str]:
    steps = {
        "train": f"one fold of {', '.join(FAMILIES.values())} on {args.device}, {args.epochs} epochs, paper sizes",
        "agree": f"CPU vs {args.device} forward passes of {', '.join(AGREE_VARIANTS)} on a fixed batch (tolerances "
                 + ", ".join(f"{k} {a:g}+{r:g}|x|" for k, (a, r) in TOLERANCES.items()) + ")",
        "grid": f"paaan ablation on the demo corpus, variants {GRID_VARIANTS}, {GRID_EPOCHS} epochs, 2 k trials, "
                f"--gpus-per-trial {args.gpus_per_trial} (GPU memory must rise > {GRID_MIN_GPU_MIB} MiB)",
        "project": f"PAaAN_PP fold at paper sizes on {args.device} (1 and 3 epochs), variant costs, the full study "
                   f"projected (every k trial trains 50 epochs" + (f"; ASHA on: k-epoch share {args.k_epoch_share}"
                                                                     if args.k_epoch_share else "") + ")",
    }
    return [f"{i + 1}. {name}: {steps[name]}" for i, name in enumerate(args.steps)]


def parse(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (cuda:N) or cpu (the CPU-vs-CPU check)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--store", type=Path, default=None, help="a feature store made beforehand (no featurize)")
    parser.add_argument("--ground-truth", type=Path, default=None, help="its corpus' ground_truth.json")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each family's fold (train)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.25)
    parser.add_argument("--k-epoch-share", type=float, default=None,
                        help="share of k-trial epochs under ASHA (bench_paper's k search) for the ASHA projection")
    parser.add_argument("--dry-run", action="store_true", help="list the steps and exit")
    parser.add_argument("--prepare", type=Path, default=None, metavar="DIR",
                        help="only write the demo corpus' feature store and ground truth to DIR/features and "
                        "DIR/ground_truth.json (for --store on a machine without openSMILE), then exit")
    args = parser.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; known: {', '.join(STEPS)}")
    if not args.device.startswith(("cuda", "cpu")):
        parser.error(f"--device must be cuda, cuda:N or cpu, not {args.device!r}")
    if args.store and "grid" in args.steps:
        parser.error("the grid step featurizes the demo corpus itself: leave out --store, or the grid step")
    if args.store and not args.ground_truth and "train" in args.steps:
        parser.error("--store needs --ground-truth (PAaAN_oracle trains on the true personalities)")
    if not 0 < args.gpus_per_trial <= 1:
        parser.error("--gpus-per-trial must be in (0, 1]")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    # gpu_check.sh's time limit ends this process with SIGTERM: raise, so the grid's ablation is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.prepare:
        store, ground_truth, _ = demo_store(args.work)
        shutil.rmtree(args.prepare / "features", ignore_errors=True)
        shutil.copytree(store, args.prepare / "features")
        shutil.copy(ground_truth, args.prepare / "ground_truth.json")
        print(f"wrote {args.prepare / 'features'} and {args.prepare / 'ground_truth.json'}")
        return 0
    print(f"GPU check on {args.device}: " + ", ".join(args.steps), flush=True)
    for line in describe(args):
        print("  " + line)
    if args.dry_run:
        return 0
    started = time.perf_counter()
    import torch

    if args.device.startswith("cuda"):
        check(torch.cuda.is_available(), f"torch {torch.__version__} sees no CUDA device (--device cpu checks the "
              "CPU side only)")
        torch.cuda.init()
    from benchmarks.common import bench_profile, machine

    cuda = args.device.startswith("cuda")
    figures: dict = {"device": args.device, "steps": args.steps, "seconds_per_step": {},
                     "device_name": torch.cuda.get_device_name(args.device) if cuda else "cpu"}
    store = corpus = ground_truth = None
    if {"train", "project", "grid"} & set(args.steps):
        if args.store:
            store, ground_truth = args.store, args.ground_truth
        else:
            store, ground_truth, corpus = demo_store(args.work)
        from paaan.features.store import FeatureStore

        store = FeatureStore(store)
    for step in args.steps:
        t = time.perf_counter()
        print(f"\n[{step}]", flush=True)
        if step == "train":
            figures["train"] = train_families(store, ground_truth, args.device, args.epochs)
        elif step == "agree":
            figures["agree"] = agreement(AGREE_VARIANTS, bench_profile("paper"), args.device)
            for row in figures["agree"]:
                print(f"  {row['variant']}: " + ", ".join(f"{k} {v['max_abs']:.2g}" for k, v in row["strict"].items())
                      + (f"; with TF32: " + ", ".join(f"{k} {v:.2g}" for k, v in row["tf32"].items())
                         if "tf32" in row else ""), flush=True)
        elif step == "grid":
            figures["grid"] = run_grid(corpus, args.work, args.device, args.gpus_per_trial)
        elif step == "project":
            figures["project"] = project_study(store, args.device, args.k_epoch_share)
        figures["seconds_per_step"][step] = round(time.perf_counter() - t, 1)
    figures["machine"] = machine()
    rows = [[f"{step}: seconds", s, "-"] for step, s in figures["seconds_per_step"].items()]
    for r in figures.get("train", []):
        rows.append([f"train {r['variant']}: utterances per second", r["utterances_per_second"], "-"])
    for r in figures.get("agree", []):
        rows.append([f"agree {r['variant']}: largest |difference| (logits)", f"{r['strict']['logits']['max_abs']:.2g}",
                     f"<= {TOLERANCES['logits'][0]:g} + {TOLERANCES['logits'][1]:g}|x|"])
    if "grid" in figures:
        g = figures["grid"]
        rows += [["grid: trials / wall (s)", f"{g['trials']} / {g['wall_seconds']}", "-"],
                 ["grid: most trials at once", g["most_trials_at_once"], "-"]]
    if "project" in figures:
        p = figures["project"]
        rows.append(["project: PAaAN_PP utterances per second (paper sizes)", p["utterances_per_second"], "-"])
        for name, proj in p["projection_one_trial_at_a_time"].items():
            rows.append([f"project: full study, {name}, one trial at a time (hours)", proj["device_hours"],
                         "< 0.25 (15 min)"])
    print_table(f"GPU check ({figures['device_name']})", rows, ["figure", "value", "target"])
    write_result("gpu_check", figures, started)
    print(f"GPU check passed in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
