"""Small numerical helpers shared by SHLA and retrieval (numpy only: importing them never loads torch)."""

from __future__ import annotations

import numpy as np

# A column whose std is below this is (numerically) constant, e.g. a spectral band above SSPNet's 4 kHz
# Nyquist limit: its scale is set to 1, so it becomes 0 once centred instead of blowing float noise up to
# unit variance (the rule of scikit-learn's StandardScaler).
STD_FLOOR = 1e-8


def standardisation_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations of ``X`` (n, F), std below STD_FLOOR set to 1.

    Population std (ddof=0) is what z-normalisation uses everywhere (sklearn's StandardScaler too).
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)  # (F,)
    std = X.std(axis=0)  # (F,)
    std = np.where(std < STD_FLOOR, 1.0, std)
    return mean, std


def check_matrix(X: np.ndarray, what: str, n_cols: int | None = None, unit: str = "dimensions") -> np.ndarray:
    """``X`` as a finite 2-D float64 array, or ValueError naming ``what``, the row and the column."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (rows, {unit}), got shape {X.shape}")
    if n_cols is not None and X.shape[1] != n_cols:
        raise ValueError(f"{what}: expected {n_cols} {unit} per row, got {X.shape[1]}")
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{what}: non-finite value at row {bad[0]}, column {bad[1]}")
    return X
