"""The attention analysis of paper III-C and Fig. 2: where PAaAN_PP's attention moves relative to IA+T.

Paper III-C: "for the acoustic modality, we firstly compute the average values of each speaker on the five
LLD categories as an threshold. Then, we accumulate the learned attention weights of the spoken frames with
feature values that is over the threshold in each category [...]. To analyze lexical modality, we accumulate
the attention weights using similar procedure but directly based on the eight POS tags. [...] each category
of feature includes its associated sub-categories, e.g., loudness category contains the loudness LLD along
with it's first and second derivatives". Fig. 2 shows, per speaker and category, the accumulated attention
of PAaAN_PP minus that of IA+T.

The paper leaves four choices open; this module makes them as follows.

1. Several dimensions per category (acoustic). ``combine="per_dimension"`` (the default): every dimension
   of a category (an LLD, its first and, for loudness and MFCC, its second derivative; ``LLD_CATEGORY``) is
   compared with its own threshold, and a step's salience in the category is the share of the category's
   dimensions above theirs, a weight in [0, 1] (loudness: 0, 1/3, 2/3 or 1). Why not threshold one
   combined value: the 36 MFCC dimensions (and a level and its derivatives) do not share a meaning, so
   their mean lets a loud step with falling loudness cancel out to "average". ``combine="mean"`` is that
   alternative, kept for comparison: the mean of the category's z-normalised dimensions, thresholded once,
   salience 0 or 1.
2. Threshold: the speaker's average of each dimension (or of the combined value) over the speaker's test
   steps, i.e. over exactly the steps being accumulated; a step counts when it is strictly above ("over the
   threshold"). The values are the model's inputs: 40 ms steps of speaker-wise z-normalised LLDs (II-B1).
   Every step of a test utterance is a "spoken frame": the pipeline has no voice-activity detector and
   IEMOCAP utterances are segmented speaker turns.
3. Normalisation: the accumulated attention of a speaker is divided by the speaker's number of test
   utterances (for the lexical side, those with at least one token). Each utterance's alpha sums to 1
   (softmax over its steps, eq. 3), so the result is the average attention mass per utterance on the
   category's salient steps (tokens), in [0, 1], comparable between speakers with more or less speech.
4. Lexical side: a token counts for the POS group of its Penn tag (``paaan.features.text.POS_GROUPS``, eight
   groups with their sub-tags); tokens of other tags (DT, TO, punctuation, ...) count for no group.

The difference tables (``attention_change``) are "with personality" minus "without", per speaker; the
models see the same test steps and tokens, so the salience weights are shared and only alpha differs.
Which trained runs feed these tables (seed, folds) is decided by ``experiments/analyze.py``.

Demo-corpus diagnostic (not in the paper, which has no true personalities): ``personality_diagnostic``
ranks speakers by their planted ``expression_shift`` (how much personality changes their emotion pattern;
``paaan.demo.expression``) and by the size of their attention change (the L1 norm of their difference row),
and reports Spearman's rank correlation, and the share of same-fold speaker pairs ordered alike (each fold's
models are a separate training run, which also moves attention). A diagnostic, not a pass/fail check.

Pure pandas/numpy/scipy/matplotlib: no MLflow, no files other than the figures asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from scipy import stats  # noqa: E402

from paaan.errors import PaaanError  # noqa: E402
from paaan.features.acoustic import LLD_CATEGORIES, LLD_CATEGORY, LLD_NAMES  # noqa: E402
from paaan.features.text import POS_GROUPS, pos_group  # noqa: E402
from paaan.report import save_figure  # noqa: E402

COMBINE_RULES = ("per_dimension", "mean")
# Fig. 2's category labels, in III-C's order.
CATEGORY_LABELS: dict[str, str] = {"loudness": "loudness", "mfcc": "MFCC", "zcr": "zero-crossing rate",
                                   "voice_prob": "voicing probability", "f0": "F0"}
STEP_SECONDS = 0.04  # one BLSTM time step: 4 frames x 10 ms (II-B1)


def category_columns() -> dict[str, list[str]]:
    """Each LLD category's columns (the LLD and its derivatives) by name, e.g. loudness -> 3 names (III-C)."""
    return {cat: [name for name in LLD_NAMES if LLD_CATEGORY[name] == cat] for cat in LLD_CATEGORIES}


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise PaaanError(f"{what}: missing column(s) {shown}")


# ----------------------------------------------------------------------------------------------------------
# Salience and accumulation (III-C)


def category_salience(audio: pd.DataFrame, combine: str = "per_dimension",
                      categories: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """(n_steps, n_categories) salience weight of every step in every LLD category, in [0, 1].

    ``audio``: one row per 40 ms test step with ``speaker`` and the LLD columns (z-normalised values).
    ``categories``: category -> its columns (default: the five III-C categories over the 45 LLDs).
    ``per_dimension``: share of the category's dimensions above the speaker's average of that dimension;
    ``mean``: 1 where the mean of the category's dimensions is above the speaker's average of that mean.
    """
    if combine not in COMBINE_RULES:
        raise ValueError(f"combine must be one of {COMBINE_RULES}, not {combine!r}")
    categories = dict(categories or category_columns())
    _require(audio, ["speaker", *(c for cols in categories.values() for c in cols)], "acoustic attention table")
    by_speaker = audio.groupby("speaker", sort=False)
    out = {}
    for category, columns in categories.items():
        columns = list(columns)
        values = audio[columns].to_numpy(dtype=float)  # (n_steps, D_c)
        if combine == "per_dimension":
            thresholds = by_speaker[columns].transform("mean").to_numpy(dtype=float)  # (n_steps, D_c)
            out[category] = (values > thresholds).mean(axis=1)
        else:
            combined = pd.Series(values.mean(axis=1), index=audio.index)  # (n_steps,)
            threshold = combined.groupby(audio["speaker"], sort=False).transform("mean")
            out[category] = (combined > threshold).to_numpy(dtype=float)
    return pd.DataFrame(out, index=audio.index)


def pos_membership(tags: Sequence[str]) -> pd.DataFrame:
    """(n_tokens, 8) one-hot of each Penn tag's POS group (CC, IN, JJ, MD, NN, PRP, RB, VB); others all 0."""
    groups = [pos_group(str(tag)) for tag in tags]
    return pd.DataFrame({g: [float(x == g) for x in groups] for g in POS_GROUPS})


def accumulate(alpha: pd.Series, weights: pd.DataFrame, speaker: pd.Series, utterance_id: pd.Series) -> pd.DataFrame:
    """(n_speakers, n_categories): sum over a speaker's rows of alpha * weight, per test utterance.

    All four arguments are row-aligned (one row per step or token). Dividing by the speaker's number of
    utterances makes it the average attention mass per utterance on salient rows (each utterance's alpha
    sums to 1).
    """
    alpha = np.asarray(alpha, dtype=float)
    speaker = np.asarray(speaker)
    mass = pd.DataFrame(weights.to_numpy(dtype=float) * alpha[:, None], columns=weights.columns)
    mass = mass.groupby(speaker).sum()  # (n_speakers, n_categories)
    utterances = pd.Series(np.asarray(utterance_id)).groupby(speaker).nunique()
    out = mass.div(utterances, axis=0)
    out.index.name = "speaker"
    return out.sort_index()


def acoustic_accumulation(audio: pd.DataFrame, combine: str = "per_dimension",
                          categories: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Speaker x LLD category: accumulated alpha_A on salient steps per test utterance (III-C, Fig. 2 top)."""
    _require(audio, ["utterance_id", "alpha", "speaker"], "acoustic attention table")
    audio = audio.reset_index(drop=True)
    weights = category_salience(audio, combine, categories)
    return accumulate(audio["alpha"], weights, audio["speaker"], audio["utterance_id"])


def lexical_accumulation(text: pd.DataFrame) -> pd.DataFrame:
    """Speaker x POS group: accumulated alpha_T on the group's tokens per test utterance (III-C, Fig. 2 bottom)."""
    _require(text, ["utterance_id", "alpha", "speaker", "pos"], "lexical attention table")
    text = text.reset_index(drop=True)
    return accumulate(text["alpha"], pos_membership(text["pos"]), text["speaker"], text["utterance_id"])


def attention_change(personal: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Speaker x category: accumulated attention with personality minus without (Fig. 2's quantity)."""
    if set(personal.index) != set(baseline.index) or list(personal.columns) != list(baseline.columns):
        raise PaaanError("the two models' accumulated attention covers different speakers or categories: "
                         f"{sorted(personal.index)} x {list(personal.columns)} vs "
                         f"{sorted(baseline.index)} x {list(baseline.columns)}")
    return (personal - baseline.loc[personal.index]).sort_index()


def long_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Model -> speaker x category tables as one long table: speaker, category, model, value."""
    frames = [table.rename_axis("speaker").reset_index().melt("speaker", var_name="category").assign(model=model)
              for model, table in tables.items()]
    return pd.concat(frames, ignore_index=True)[["speaker", "category", "model", "value"]]


def change_summary(change: pd.DataFrame) -> pd.DataFrame:
    """Per category: mean change over speakers, and how many speakers' attention went up / down (III-C text)."""
    return pd.DataFrame({"mean_change": change.mean(axis=0), "speakers_up": (change > 0).sum(axis=0),
                         "speakers_down": (change < 0).sum(axis=0)}).rename_axis("category")


# ----------------------------------------------------------------------------------------------------------
# Figures


def plot_change_map(change: pd.DataFrame, path: str | Path, title: str, labels: Mapping[str, str] | None = None,
                    personal: str = "PAaAN_PP", baseline: str = "IA+T") -> Path:
    """One panel of Fig. 2: speakers across, categories down, red = more attention with personality.

    Cells are annotated in percentage points of an utterance's attention mass; the colour scale is symmetric
    around 0 so sign and size read at a glance.
    """
    path = Path(path)
    values = 100.0 * change.to_numpy(dtype=float).T  # (n_categories, n_speakers), percentage points
    limit = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 0.0
    limit = limit if limit > 0 else 1.0
    rows = [(labels or {}).get(c, c) for c in change.columns]
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * max(len(change), 4), 1.3 + 0.45 * len(rows)), dpi=120)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(values[i, j]) > 0.6 * limit else "black")
    ax.set_xticks(range(len(change)), list(change.index), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("speaker (test fold)")
    ax.set_title(title, fontsize=9)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label(f"{personal} − {baseline}\n(percentage points of an\nutterance's attention)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return save_figure(fig, path)


def most_changed_utterances(audio: Mapping[str, pd.DataFrame], text: Mapping[str, pd.DataFrame],
                            per_speaker: int) -> pd.DataFrame:
    """The ``per_speaker`` test utterances of each speaker whose attention changed most between two models.

    ``audio``/``text``: model -> attention table (exactly two models). Change of an utterance: the L1
    distance between the two models' alpha_A plus that between their alpha_T (0 to 4). Deterministic:
    ties are broken by utterance id. Returns speaker, utterance_id, change.
    """
    (a, b) = list(audio)
    keys = ["utterance_id", "step"]
    steps = audio[a][[*keys, "speaker", "alpha"]].merge(audio[b][[*keys, "alpha"]], on=keys, suffixes=("_a", "_b"))
    change = (steps["alpha_a"] - steps["alpha_b"]).abs().groupby(steps["utterance_id"]).sum()
    speaker = steps.groupby("utterance_id")["speaker"].first()
    if text:
        keys = ["utterance_id", "position"]
        tokens = text[a][[*keys, "alpha"]].merge(text[b][[*keys, "alpha"]], on=keys, suffixes=("_a", "_b"))
        lexical = (tokens["alpha_a"] - tokens["alpha_b"]).abs().groupby(tokens["utterance_id"]).sum()
        change = change.add(lexical, fill_value=0.0)
    table = pd.DataFrame({"speaker": speaker, "change": change}).rename_axis("utterance_id").reset_index()
    table = table.sort_values(["speaker", "change", "utterance_id"], ascending=[True, False, True])
    return table.groupby("speaker", sort=True).head(per_speaker).reset_index(drop=True)


def denormalise(z: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Undo the speaker-wise z-normalisation (II-B1): z * std + mean, back to the LLD's own units."""
    return np.asarray(z, dtype=float) * std + mean


def _attention_background(ax, alpha: np.ndarray, vmax: float, step_seconds: float, cmap) -> None:
    low, high = ax.get_ylim()
    ax.imshow(np.asarray(alpha, dtype=float)[None, :], extent=(0, len(alpha) * step_seconds, low, high),
              aspect="auto", cmap=cmap, vmin=0, vmax=vmax, alpha=0.85, zorder=0, interpolation="nearest")
    ax.set_ylim(low, high)


def plot_utterance(contours: pd.DataFrame, audio_attention: Mapping[str, np.ndarray], words: pd.DataFrame,
                   text_attention: Mapping[str, np.ndarray], path: str | Path, title: str,
                   step_seconds: float = STEP_SECONDS, contour_units: Mapping[str, str] | None = None) -> Path:
    """One test utterance, one column per model: alpha_A shading the loudness and F0 contours, words by alpha_T.

    ``contours``: one row per 40 ms step, columns ``loudness`` and ``f0`` (NaN = unvoiced, not drawn).
    ``audio_attention``: model -> (n_steps,) alpha_A. ``words``: one row per token with ``token``,
    ``first_step`` and ``last_step`` (inclusive, -1 = not time-aligned); ``text_attention``: model ->
    (n_tokens,) alpha_T. The two models share one colour scale per modality, so shades compare across columns.
    """
    path = Path(path)
    models = list(audio_attention)
    units = {"loudness": "", "f0": "Hz", **(contour_units or {})}
    n_steps = len(contours)
    times = (np.arange(n_steps) + 0.5) * step_seconds
    vmax_a = max(float(np.max(a)) for a in audio_attention.values()) if n_steps else 1.0
    vmax_t = max([float(np.max(t)) for t in text_attention.values() if len(t)] or [1.0])
    cmap_a, cmap_t = plt.get_cmap("Oranges"), plt.get_cmap("Greens")
    fig, axes = plt.subplots(3, len(models), figsize=(6.2 * len(models), 5.6), dpi=110, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 2, 1.2]}, sharex="col")
    for col, model in enumerate(models):
        for row, (name, label) in enumerate((("loudness", "loudness"), ("f0", "F0"))):
            ax = axes[row, col]
            values = contours[name].to_numpy(dtype=float)
            ax.plot(times, values, color="black", linewidth=1.2)
            finite = values[np.isfinite(values)]
            if finite.size:
                pad = 0.1 * (finite.max() - finite.min()) + 1e-6
                ax.set_ylim(finite.min() - pad, finite.max() + pad)
            _attention_background(ax, audio_attention[model], vmax_a, step_seconds, cmap_a)
            ax.set_ylabel(f"{label} ({units[name]})" if units[name] else label, fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0, col].set_title(rf"{model}: shade = $\alpha_A$ per 40 ms step", fontsize=9)
        _draw_words(axes[2, col], words, np.asarray(text_attention[model], dtype=float), vmax_t, cmap_t,
                    step_seconds, n_steps)
        axes[2, col].set_xlabel("time in the utterance (s)", fontsize=8)
        axes[2, col].set_xlim(0, max(n_steps, 1) * step_seconds)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    for cmap, vmax, label, box in ((cmap_a, vmax_a, r"$\alpha_A$", (0.945, 0.42, 0.012, 0.45)),
                                   (cmap_t, vmax_t, r"$\alpha_T$", (0.945, 0.08, 0.012, 0.22))):
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=plt.Normalize(0, vmax), cmap=cmap), cax=fig.add_axes(box))
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.savefig(path)
    plt.close(fig)
    return path


def _plain(text) -> str:
    """A token as literal text: a lone "$" (Penn tag $) would otherwise start matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _draw_words(ax, words: pd.DataFrame, alpha: np.ndarray, vmax: float, cmap, step_seconds: float,
                n_steps: int) -> None:
    """Words at their aligned time spans, shaded by alpha_T; unaligned ones listed (or spread if none aligned)."""
    first = words["first_step"].to_numpy(dtype=int) if len(words) else np.zeros(0, int)
    last = words["last_step"].to_numpy(dtype=int) if len(words) else np.zeros(0, int)
    aligned = first >= 0
    if len(words) and not aligned.any():  # no alignment at all: spread the words evenly over the utterance
        edges = np.linspace(0, n_steps, len(words) + 1)
        first, last = np.floor(edges[:-1]).astype(int), np.ceil(edges[1:]).astype(int) - 1
        aligned = np.ones(len(words), bool)
    for i, token in enumerate(words["token"].tolist() if len(words) else []):
        if not aligned[i]:
            continue
        start, end = first[i] * step_seconds, (last[i] + 1) * step_seconds
        ax.add_patch(Rectangle((start, 0.05), end - start, 0.9, facecolor=cmap(alpha[i] / vmax),
                               edgecolor="grey", linewidth=0.5))
        ax.text((start + end) / 2, 0.68 if i % 2 == 0 else 0.32, _plain(token), ha="center", va="center", fontsize=7,
                color="white" if alpha[i] > 0.7 * vmax else "black")
    tokens = words["token"].tolist() if len(words) else []
    loose = [f"'{_plain(t)}' {a:.2f}" for t, a, ok in zip(tokens, alpha, aligned) if not ok]
    if loose:
        ax.text(0.0, -0.55, r"not time-aligned (token $\alpha_T$): " + "   ".join(loose), transform=ax.transAxes,
                fontsize=6.5, va="top")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("words\n" r"shade = $\alpha_T$", fontsize=8)
    ax.tick_params(labelsize=7)


# ----------------------------------------------------------------------------------------------------------
# Demo-corpus diagnostic: planted personality effect vs attention change


def planted_expression(ground_truth: str | Path | dict) -> pd.DataFrame:
    """Speaker x (expression_shift, extraversion) from a demo corpus' ``ground_truth.json``."""
    if not isinstance(ground_truth, dict):
        path = Path(ground_truth)
        if not path.is_file():
            raise PaaanError(f"{path}: no such ground truth file (only demo corpora have one)")
        ground_truth = json.loads(path.read_text())
    speakers = (ground_truth.get("iemocap") or {}).get("speakers") or {}
    rows = {s: {"expression_shift": float(info["expression_shift"]),
                "extraversion": float(info["traits"]["extraversion"])}
            for s, info in speakers.items() if "expression_shift" in info}
    if not rows:
        raise PaaanError("ground truth has no IEMOCAP speakers with an expression_shift (iemocap.speakers)")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("speaker").sort_index()


def within_group_concordance(x: Sequence[float], y: Sequence[float], groups: Sequence) -> tuple[float, int]:
    """Share of same-group pairs ordered alike by x and y, and the number of such pairs (ties left out).

    Why: each fold's two models are trained separately, so attention changes of speakers in different folds
    also differ by training run; comparing speakers only within their test fold removes that. NaN if no pair.
    """
    x, y, groups = np.asarray(x, float), np.asarray(y, float), np.asarray(groups)
    concordant = pairs = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if groups[i] == groups[j] and x[i] != x[j] and y[i] != y[j]:
                pairs += 1
                concordant += int((x[i] < x[j]) == (y[i] < y[j]))
    return (concordant / pairs if pairs else float("nan")), pairs


def personality_diagnostic(changes: Mapping[str, pd.DataFrame], planted: pd.DataFrame,
                           folds: Mapping[str, object] | pd.Series | None = None) -> tuple[pd.DataFrame, dict]:
    """Do the speakers whose planted personality most changes their expression change attention most?

    ``changes``: modality -> speaker x category difference table; ``planted``: ``planted_expression``;
    ``folds``: speaker -> test fold (optional). Per speaker, the size of the change is the L1 norm of its
    difference row (``<modality>_change_l1``; ``total_change_l1`` sums the modalities, all in attention mass
    per utterance). Returns the per-speaker table and, per size column, Spearman's rho and p over the
    speakers (NaN below 3 speakers or for a constant column) and, with ``folds``, the within-fold
    concordance (``within_group_concordance``).
    """
    sizes = pd.DataFrame({f"{m}_change_l1": change.abs().sum(axis=1) for m, change in changes.items()})
    sizes["total_change_l1"] = sizes.sum(axis=1)
    table = planted.join(sizes, how="inner").sort_index()
    if folds is not None:
        table.insert(0, "fold", pd.Series(dict(folds)).reindex(table.index).to_numpy())
    result: dict[str, float] = {"speakers": float(len(table))}
    for column in sizes.columns:
        rho, p = np.nan, np.nan
        x, y = table["expression_shift"].to_numpy(float), table[column].to_numpy(float)
        if len(table) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            test = stats.spearmanr(x, y)
            rho, p = float(test.statistic), float(test.pvalue)
        name = column.removesuffix("_change_l1")
        result[f"spearman_{name}"], result[f"spearman_{name}_p"] = rho, p
        if folds is not None:
            share, pairs = within_group_concordance(x, y, table["fold"].to_numpy())
            result[f"within_fold_concordance_{name}"], result[f"within_fold_pairs_{name}"] = share, float(pairs)
    return table.reset_index(), result
