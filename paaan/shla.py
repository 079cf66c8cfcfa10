"""Acoustic domain adaptation with a shared-hidden-layer autoencoder (SHLA), paper II-C1 and III-A.

IEMOCAP (studio, 16 kHz, American English) and SSPNet (radio news, 8 kHz, French) differ in channel and
setting, so cosine similarity between their raw INTERSPEECH-2010 functionals mostly measures the corpus,
not the speaker. The SHLA (Deng et al., "Introducing shared-hidden-layer autoencoders for transfer
learning and their application in acoustic emotion recognition", ICASSP 2014) learns one encoder for
both corpora and one reconstruction network per corpus: the shared encoder has to map both corpora into
one feature space, while the corpus-specific decoders absorb what is peculiar to each corpus. The 128-d
code of the shared encoder is the space in which personality retrieval (II-C2, ``paaan.retrieval``)
compares IEMOCAP utterances with SSPNet clips.

Shapes: B batch rows, F input functionals (1582; the paper's "1583" counts a frame index too, see
NOTES), H1-H2-H3 the hidden sizes (512-256-128 in III-A).

Usage in a notebook::

    shla = SHLA(seed=0).fit({"iemocap": X_iemocap, "sspnet": X_sspnet})
    Z_iemocap = shla.transform(X_iemocap, "iemocap")   # (n1, 128)
    Z_sspnet = shla.transform(X_sspnet, "sspnet")      # (n2, 128)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import nn

from paaan.config import SHLAConfig
from paaan.errors import FeatureError
from paaan.numerics import check_matrix, standardisation_stats

_PAPER = SHLAConfig()


# Rows per forward pass when transforming a whole corpus: bounds memory, no effect on the numbers.
_EVAL_ROWS = 4096

FILE_FORMAT = "paaan.shla"
FILE_VERSION = 1


def batch_schedule(sizes: dict[str, int], batch_size: int, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Row indices of every training step of ONE epoch, per corpus.

    Definition of an epoch: one pass over the largest corpus. Every step takes one batch from every
    corpus, so the smaller corpus (SSPNet, 640 clips against IEMOCAP's 5531 utterances) is cycled: it is
    drawn as back-to-back fresh permutations, so within an epoch each of its rows is seen equally often
    (to within one). The largest corpus is one permutation cut into ``ceil(n_max / batch_size)`` batches,
    the last possibly short; the others always give full batches. A corpus as large as the largest is
    passed exactly once too.

    Balancing the corpora per step keeps the shared encoder from fitting IEMOCAP alone (which has 8.6x the
    rows); Deng et al. (2014) likewise weigh the two reconstruction objectives jointly.
    """
    n_max = max(sizes.values())
    steps = math.ceil(n_max / batch_size)
    schedule: list[dict[str, np.ndarray]] = [{} for _ in range(steps)]
    for corpus, n in sizes.items():
        draws = n if n == n_max else steps * batch_size
        stream = np.concatenate([rng.permutation(n) for _ in range(math.ceil(draws / n))])[:draws]
        for step in range(steps):
            schedule[step][corpus] = stream[step * batch_size:(step + 1) * batch_size]
    return schedule


def _mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers through ``sizes`` with ReLU between them and none after the last (see SHLA docstring)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SharedHiddenLayerAutoencoder(nn.Module):
    """One shared encoder F-H1-H2-H3 and one decoder H3-H2-H1-F per corpus (paper II-C1, III-A)."""

    def __init__(self, n_features: int, hidden_sizes: tuple[int, ...], corpora: tuple[str, ...]):
        super().__init__()
        sizes = (n_features, *hidden_sizes)
        self.encoder = _mlp(sizes)  # shared by every corpus
        self.decoders = nn.ModuleDict({c: _mlp(sizes[::-1]) for c in corpora})  # corpus-specific

    def branch(self, corpus: str) -> nn.Sequential:
        """The autoencoder of one corpus: the shared encoder (the same module object) then its decoder."""
        return nn.Sequential(self.encoder, self.decoders[corpus])

    def forward(self, x: torch.Tensor, corpus: str) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)  # (B, F) -> (B, H3)
        x_hat = self.decoders[corpus](z)  # (B, H3) -> (B, F)
        return z, x_hat


def reconstruction_step(module: SharedHiddenLayerAutoencoder, optimizer: torch.optim.Optimizer,
                        batches: dict[str, torch.Tensor]) -> dict[str, float]:
    """One optimiser step on the sum of the corpora's mean-squared reconstruction errors.

    ``batches`` maps corpus -> standardised rows (B, F). The summed loss sends gradients from every corpus
    into the shared encoder and from each corpus into its own decoder only. Returns each corpus' loss.
    """
    module.train()
    optimizer.zero_grad(set_to_none=True)
    losses = {c: F.mse_loss(module(x, c)[1], x) for c, x in batches.items()}  # mean over (B, F)
    sum(losses.values()).backward()
    optimizer.step()
    return {c: loss.item() for c, loss in losses.items()}


class SHLA(BaseEstimator):
    """Shared-hidden-layer autoencoder over two (or more) corpora's functionals, paper II-C1 / III-A.

    Architecture (III-A: "symmetric ... 1583-512-256-128-256-512-1583"; II-C1: "shared parameters for both
    corpora in the encoder network, where the reconstruction networks are trained with corpus-specific
    layers"), after Deng et al. (ICASSP 2014):

    - shared: the whole encoder, Linear(F, 512) - ReLU - Linear(512, 256) - ReLU - Linear(256, 128). Both
      corpora pass through the same parameters (``module_.encoder``), so its 128-d code is one space for both.
    - corpus-specific: the whole decoder, one per corpus, Linear(128, 256) - ReLU - Linear(256, 512) - ReLU -
      Linear(512, F) (``module_.decoders[corpus]``), trained only on its corpus' reconstruction error.

    Activations (the paper does not give them): ReLU on hidden layers, as III-A uses for PAaAN's layers
    other than the tanh pre-layers, and because it does not saturate at the small learning rate (1e-4)
    and short schedule (10 epochs). The 128-d code is linear: retrieval compares codes by cosine, and a
    ReLU code would be non-negative (cosines squeezed into [0, 1]) and could be all-zero (cosine undefined).
    The output layer is linear because standardised functionals are unbounded.

    Input: each corpus is z-scored with its OWN mean and std (per-corpus standardisation, stored in
    ``mean_`` / ``std_``; std floor STD_FLOOR), removing first-order channel offsets before the network
    sees the data. Loss: mean-squared reconstruction error per corpus, summed over corpora per step (see
    ``reconstruction_step``); Adam. One epoch is one pass over the largest corpus with the smaller ones
    cycled, every step one batch of each corpus (see ``batch_schedule``).

    Parameters are the paper's (``SHLAConfig``): batch 16, learning rate 1e-4, 10 epochs. ``seed`` fixes
    the initial weights and the batch order: the same seed gives the same latents (on the same device).

    Learned attributes: ``corpora_`` (names, fit order), ``n_features_in_``, ``mean_`` / ``std_`` (dicts
    corpus -> (F,)), ``module_`` (the torch module), ``history_`` (one dict corpus -> mean reconstruction
    MSE over the whole standardised corpus, measured after each epoch in eval mode).
    """

    def __init__(self, hidden_sizes: tuple[int, ...] = _PAPER.hidden_sizes, epochs: int = _PAPER.epochs,
                 batch_size: int = _PAPER.batch_size, lr: float = _PAPER.lr, seed: int = 0,
                 device: str = "cpu"):
        self.hidden_sizes = hidden_sizes
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device

    @classmethod
    def from_config(cls, config: SHLAConfig, seed: int = 0, device: str = "cpu") -> "SHLA":
        return cls(hidden_sizes=tuple(config.hidden_sizes), epochs=config.epochs, batch_size=config.batch_size,
                   lr=config.lr, seed=seed, device=device)

    # ---------------------------------------------------------------------------------------------- fit
    def fit(self, corpora: dict[str, np.ndarray]) -> "SHLA":
        """Learn the per-corpus standardisation and train the autoencoder; ``corpora``: name -> (n, F)."""
        self._check_params()
        data = _check_corpora(corpora)
        self.corpora_ = tuple(data)
        self.n_features_in_ = next(iter(data.values())).shape[1]
        self.mean_, self.std_ = {}, {}
        for corpus, X in data.items():
            self.mean_[corpus], self.std_[corpus] = standardisation_stats(X)
        standardised = {c: self._to_tensor(self._standardise(X, c)) for c, X in data.items()}  # name -> (n, F)

        # Initial weights from the seed without touching torch's global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = SharedHiddenLayerAutoencoder(self.n_features_in_, tuple(self.hidden_sizes), self.corpora_)
        self.module_ = module.to(self.device)
        # The fused Adam kernel does the same update as the default one, ~35% faster per step on CPU here.
        fused = torch.device(self.device).type in ("cpu", "cuda")
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.lr, fused=fused)
        rng = np.random.default_rng(self.seed)
        sizes = {c: x.shape[0] for c, x in standardised.items()}

        self.history_: list[dict[str, float]] = []
        for _ in range(self.epochs):
            for step in batch_schedule(sizes, self.batch_size, rng):
                reconstruction_step(self.module_, optimizer,
                                    {c: standardised[c][torch.as_tensor(rows, device=self.device)]
                                     for c, rows in step.items()})
            self.history_.append({c: self._reconstruction_mse(x, c) for c, x in standardised.items()})
        self.module_.eval()
        return self

    def fit_transform(self, corpora: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``fit`` then the latents of every corpus: name -> (n, H3)."""
        self.fit(corpora)
        return {c: self.transform(X, c) for c, X in corpora.items()}

    # -------------------------------------------------------------------------------------- inference
    def transform(self, X: np.ndarray, corpus: str) -> np.ndarray:
        """Latent codes (n, H3) of rows of ``corpus`` (standardised with that corpus' statistics)."""
        return self._predict(X, corpus)[0]

    def reconstruct(self, X: np.ndarray, corpus: str) -> np.ndarray:
        """Reconstruction of ``X`` through the shared encoder and ``corpus``' decoder, in input units (n, F)."""
        x_hat = self._predict(X, corpus)[1]
        return x_hat * self.std_[corpus] + self.mean_[corpus]

    # ------------------------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """One file (torch.save of plain dicts, lists, numbers and tensors): params, stats, weights, history."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "params": {"hidden_sizes": [int(h) for h in self.hidden_sizes], "epochs": int(self.epochs),
                       "batch_size": int(self.batch_size), "lr": float(self.lr), "seed": int(self.seed)},
            "corpora": list(self.corpora_),
            "n_features_in": int(self.n_features_in_),
            "mean": {c: torch.from_numpy(m) for c, m in self.mean_.items()},
            "std": {c: torch.from_numpy(s) for c, s in self.std_.items()},
            "state_dict": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
            "history": [dict(h) for h in self.history_],
        }, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "SHLA":
        """Read a file written by ``save`` (weights_only: no pickled classes are executed)."""
        path = Path(path)
        if not path.is_file():
            raise FeatureError(path, "SHLA file not found")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt or foreign files
            raise FeatureError(path, f"not a readable SHLA file ({type(exc).__name__}: {exc})") from None
        if not isinstance(blob, dict) or blob.get("format") != FILE_FORMAT:
            raise FeatureError(path, f"not a paaan SHLA file (no format tag {FILE_FORMAT!r})")
        if blob.get("version") != FILE_VERSION:
            raise FeatureError(path, f"SHLA file version {blob.get('version')!r}, this code reads {FILE_VERSION}")
        params = blob["params"]
        shla = cls(hidden_sizes=tuple(params["hidden_sizes"]), epochs=params["epochs"],
                   batch_size=params["batch_size"], lr=params["lr"], seed=params["seed"], device=device)
        shla.corpora_ = tuple(blob["corpora"])
        shla.n_features_in_ = blob["n_features_in"]
        shla.mean_ = {c: t.numpy() for c, t in blob["mean"].items()}
        shla.std_ = {c: t.numpy() for c, t in blob["std"].items()}
        module = SharedHiddenLayerAutoencoder(shla.n_features_in_, shla.hidden_sizes, shla.corpora_)
        try:
            module.load_state_dict(blob["state_dict"])
        except RuntimeError as exc:
            raise FeatureError(path, f"weights do not match the stored architecture: {exc}") from None
        shla.module_ = module.to(device).eval()
        shla.history_ = [dict(h) for h in blob["history"]]
        return shla

    # --------------------------------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        sizes = tuple(self.hidden_sizes)
        if not sizes or any(not isinstance(h, (int, np.integer)) or h < 1 for h in sizes):
            raise ValueError(f"hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise RuntimeError("this SHLA is not fitted yet: call fit(corpora) or SHLA.load(path)")

    def _standardise(self, X: np.ndarray, corpus: str) -> np.ndarray:
        return (X - self.mean_[corpus]) / self.std_[corpus]  # (n, F)

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(X, dtype=torch.float32, device=self.device)

    def _predict(self, X: np.ndarray, corpus: str) -> tuple[np.ndarray, np.ndarray]:
        """(latents (n, H3), standardised reconstruction (n, F)) in eval mode without gradients."""
        self._check_fitted()
        if corpus not in self.corpora_:
            raise ValueError(f"unknown corpus {corpus!r}; this SHLA was fitted on {list(self.corpora_)}")
        X = _check_matrix(X, f"features of {corpus!r}", self.n_features_in_)
        x = self._to_tensor(self._standardise(X, corpus))
        self.module_.eval()
        zs, x_hats = [], []
        with torch.no_grad():
            for start in range(0, x.shape[0], _EVAL_ROWS):
                z, x_hat = self.module_(x[start:start + _EVAL_ROWS], corpus)
                zs.append(z.cpu().numpy())
                x_hats.append(x_hat.cpu().numpy())
        width = self.module_.encoder[-1].out_features
        if not zs:  # zero rows in, zero rows out
            return np.zeros((0, width), np.float32), np.zeros((0, self.n_features_in_), np.float32)
        return np.concatenate(zs), np.concatenate(x_hats)

    def _reconstruction_mse(self, x: torch.Tensor, corpus: str) -> float:
        """Mean squared error over all rows and functionals of a standardised corpus (eval mode)."""
        self.module_.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, x.shape[0], _EVAL_ROWS):
                chunk = x[start:start + _EVAL_ROWS]
                total += F.mse_loss(self.module_(chunk, corpus)[1], chunk, reduction="sum").item()
        return total / x.numel()


def _check_matrix(X: np.ndarray, what: str, n_features: int | None = None) -> np.ndarray:
    return check_matrix(X, what, n_features, unit="functionals")


def _check_corpora(corpora: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(corpora, dict) or not corpora:
        raise ValueError("corpora must be a non-empty dict: corpus name -> (n, F) array")
    data: dict[str, np.ndarray] = {}
    for name, X in corpora.items():
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"corpus names must be non-empty strings without '.', got {name!r}")
        X = _check_matrix(X, f"features of {name!r}")
        if X.shape[0] < 2:
            raise ValueError(f"features of {name!r}: need at least 2 rows to standardise, got {X.shape[0]}")
        data[name] = X
    widths = {name: X.shape[1] for name, X in data.items()}
    if len(set(widths.values())) != 1:
        raise ValueError(f"all corpora must have the same functionals; widths per corpus: {widths}")
    return data
