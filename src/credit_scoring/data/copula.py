"""A Gaussian copula: correlated normal latents whose ranks give column pairs their published Spearman rho."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.special import ndtr

from credit_scoring.data.marginals import Marginal

Pair = tuple[str, str, float]

_CALIBRATION_SAMPLES = 10_000
_SEARCH_STEPS = 30
_RHO_TOLERANCE = 1e-3
_MAX_LATENT = 0.995
_COMPLETION_STEPS = 200
_COMPLETION_TOLERANCE = 1e-3
_MIN_EIGENVALUE = 1e-3


@dataclass(frozen=True)
class Copula:
    """Correlated uniforms for ``columns``: normals through a Cholesky factor, then the normal CDF."""

    columns: tuple[str, ...]
    factor: np.ndarray

    def uniforms(self, n_rows: int, rng: np.random.Generator) -> np.ndarray:
        latent = rng.standard_normal((n_rows, len(self.columns))) @ self.factor.T
        return ndtr(latent)


def spearman_to_latent(rho: float) -> float:
    """Latent normal correlation giving Spearman ``rho`` between continuous, tie-free columns."""
    return float(2.0 * np.sin(np.pi * rho / 6.0))


def _spearman_at(first_ranks: np.ndarray, second: Marginal, latent: float, normals: np.ndarray) -> float:
    mixed = latent * normals[0] + np.sqrt(1.0 - latent**2) * normals[1]
    return float(np.corrcoef(first_ranks, second.mid_rank(ndtr(mixed)))[0, 1])


def calibrate_latent(first: Marginal, second: Marginal, rho: float, seed: int = 0) -> float:
    """Latent correlation giving Spearman ``rho`` once ties are counted (binary flags, point masses).

    Ties shrink rank correlations: a flag set for 18 % of rows reaches at most 0.67 with any column,
    so the closed form undershoots. Regula falsi (Illinois) on common random numbers: a few evaluations.
    """
    normals = np.random.default_rng(seed).standard_normal((2, _CALIBRATION_SAMPLES))
    first_ranks = first.mid_rank(ndtr(normals[0]))
    low, high = -_MAX_LATENT, _MAX_LATENT
    gap_low = _spearman_at(first_ranks, second, low, normals) - rho
    gap_high = _spearman_at(first_ranks, second, high, normals) - rho
    if gap_low >= 0 or gap_high <= 0:  # beyond what these two laws can reach: take the bound
        return low if gap_low >= 0 else high
    for _ in range(_SEARCH_STEPS):
        guess = high - gap_high * (high - low) / (gap_high - gap_low)
        gap = _spearman_at(first_ranks, second, guess, normals) - rho
        if abs(gap) < _RHO_TOLERANCE:
            return guess
        if gap < 0:
            low, gap_low, gap_high = guess, gap, gap_high / 2
        else:
            high, gap_high, gap_low = guess, gap, gap_low / 2
    return guess


def complete_correlation(matrix: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A valid correlation matrix keeping the ``known`` entries as far as possible.

    The summary lists only pairs with |rho| >= 0.3; setting the others to 0 makes an impossible matrix
    (two flags that exclude each other cannot relate differently to age). Alternating projections let
    the unlisted entries move: project on positive semi-definite matrices, then restore known entries.
    Each group of linked columns is completed on its own (cheaper; unlinked groups stay independent).
    """
    completed = np.eye(len(matrix))
    _, group = connected_components(known, directed=False)
    for label in np.unique(group):
        block = np.ix_(group == label, group == label)
        completed[block] = _complete_block(matrix[block], known[block])
    return nearest_correlation(completed)


def _complete_block(matrix: np.ndarray, known: np.ndarray) -> np.ndarray:
    current = matrix.copy()
    for _ in range(_COMPLETION_STEPS):
        eigenvalues, eigenvectors = np.linalg.eigh(current)
        if eigenvalues[0] >= _MIN_EIGENVALUE:
            break
        projected = (eigenvectors * np.maximum(eigenvalues, _MIN_EIGENVALUE)) @ eigenvectors.T
        updated = np.where(known, matrix, projected)
        np.fill_diagonal(updated, 1.0)
        if np.abs(updated - current).max() < _COMPLETION_TOLERANCE:  # known pairs conflict: stop here
            return updated
        current = updated
    return current


def nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """A correlation matrix close to ``matrix``: negative eigenvalues clipped, unit diagonal restored."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    repaired = (eigenvectors * np.maximum(eigenvalues, _MIN_EIGENVALUE)) @ eigenvectors.T
    scale = np.sqrt(np.diag(repaired))
    return repaired / np.outer(scale, scale)


def build_copula(marginals: dict[str, Marginal], pairs: Sequence[Pair], exact: set[str]) -> Copula:
    """The copula of every column named in ``pairs``; pairs touching ``exact`` columns are calibrated."""
    columns = tuple(dict.fromkeys(name for first, second, _ in pairs for name in (first, second)))
    position = {name: index for index, name in enumerate(columns)}
    matrix, known = np.eye(len(columns)), np.eye(len(columns), dtype=bool)
    for first, second, rho in pairs:
        if first in exact or second in exact:
            latent = calibrate_latent(marginals[first], marginals[second], rho)
        else:  # closed form, corrected for ties: cheap enough for the 600 building pairs
            untied = rho / (marginals[first].tie_factor * marginals[second].tie_factor)
            latent = spearman_to_latent(float(np.clip(untied, -1.0, 1.0)))
        i, j = position[first], position[second]
        matrix[i, j] = matrix[j, i] = latent
        known[i, j] = known[j, i] = True
    return Copula(columns, np.linalg.cholesky(complete_correlation(matrix, known)))
