"""Maximum-likelihood machinery shared by the BG/NBD, Pareto/NBD and Gamma-Gamma models.

Every model supplies one function returning the weighted log-likelihood with its analytic
gradient and Hessian in natural parameters; this module turns that into a Newton fit over
log-parameters (so positivity needs no bounds), an optional L2 penalty, and standard
errors from the same Hessian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
ArrayLikeFloat = FloatArray | Sequence[float]

_MAX_ITERATIONS = 200
_MAX_LOG_STEP = 2.0
"""Largest change of a log-parameter in one step (a factor e^2): a far start cannot jump
into a region where the likelihood underflows."""
_FINAL_STEP = 1e-5
"""A Newton step this short is the last: the error after it is of order 1e-10."""
_SMALLEST_STEP = 1e-14
_STAGNATION = 1e-13
"""Relative change of the mean log-likelihood below which a step is not worth another."""
_FLAT_GRADIENT = 1e-6
_SMALL_INTEGERS = 1 << 22
_BINCOUNT_SPAN_PER_KEY = 4
_BINCOUNT_MIN_SPAN = 4096


def as_float(values: ArrayLikeFloat | float) -> FloatArray:
    """Any column of numbers as the float64 array every kernel computes on."""
    return np.asarray(values, dtype=np.float64)


def weighted_counts(index: IntArray, *, weights: FloatArray, minlength: int = 0) -> FloatArray:
    """Sum of weights per index value, typed as floats (np.bincount's stub says ints)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=minlength), dtype=np.float64)


def sum_of_products(*factors: FloatArray) -> float:
    """Sum over rows of the product of 1-D columns, without BLAS.

    OpenBLAS' threaded kernels stall for milliseconds on 2 cores when other processes
    (or Polars' pool) hold them; einsum's own loops do not.
    """
    return float(np.einsum(",".join("i" * len(factors)) + "->", *factors))


@dataclass(frozen=True)
class DistinctValues:
    """A column as its distinct values plus an index back: special functions of the
    frequency (gammaln, digamma) then cost one call per distinct count, not per row."""

    values: FloatArray
    inverse: IntArray

    @classmethod
    def of(cls, column: FloatArray) -> DistinctValues:
        if len(column) and _are_small_counts(column):
            counts = column.astype(np.int64)
            inverse, present = _dense_ranks(counts, span=int(counts.max()) + 1)
            return cls(values=present.astype(np.float64), inverse=inverse)
        # Sorting the values alone and searching them back is several times faster than
        # np.unique's return_inverse, which sorts indices (argsort).
        values = np.unique(column)
        return cls(values=values, inverse=np.searchsorted(values, column).astype(np.int64))

    def total_weights(self, weights: FloatArray) -> FloatArray:
        return weighted_counts(self.inverse, weights=weights, minlength=len(self.values))


def _are_small_counts(column: FloatArray) -> bool:
    low, high = float(column.min()), float(column.max())
    return low >= 0.0 and high < _SMALL_INTEGERS and bool(np.array_equal(column, np.floor(column)))


def _dense_ranks(keys: IntArray, *, span: int) -> tuple[IntArray, IntArray]:
    """Each key's rank among the distinct keys (0 <= key < span), and those keys, sorted.

    A bincount over the span takes linear time where the span is not much larger than
    the number of keys; otherwise sort the distinct keys and search them back.
    """
    if span <= _BINCOUNT_SPAN_PER_KEY * len(keys) + _BINCOUNT_MIN_SPAN:
        present = np.bincount(keys, minlength=span) > 0
        return (np.cumsum(present) - 1)[keys], np.flatnonzero(present)
    distinct = np.unique(keys)
    return np.searchsorted(distinct, keys).astype(np.int64), distinct


@dataclass(frozen=True)
class DistinctRows:
    """Rows that share every column give the same likelihood term, so fit them once."""

    columns: tuple[FloatArray, ...]
    counts: FloatArray
    inverse: IntArray


def compress_rows(*, columns: Sequence[ArrayLikeFloat]) -> DistinctRows:
    """Distinct rows of the stacked columns (sorted), their counts, and each row's index.

    Same result as ``np.unique(np.column_stack(columns), axis=0, return_inverse=True,
    return_counts=True)``, which sorts rows as opaque bytes. Here each column is ranked
    on its own and the ranks are folded into one integer key column by column (the
    groups so far times the next column's distinct count, plus its rank), which keeps
    the key below n^2 and the work to sorts of single columns, or bincounts.
    """
    arrays = [np.asarray(column, dtype=np.float64) for column in columns]
    per_column = [DistinctValues.of(array) for array in arrays]
    group = np.zeros(len(arrays[0]), dtype=np.int64)
    group_ranks: list[IntArray] = []
    groups = 1
    for distinct in per_column:
        size = len(distinct.values)
        group, keys = _dense_ranks(group * size + distinct.inverse, span=groups * size)
        group_ranks = [ranks[keys // size] for ranks in group_ranks] + [keys % size]
        groups = len(keys)
    return DistinctRows(
        columns=tuple(
            distinct.values[ranks] for distinct, ranks in zip(per_column, group_ranks, strict=True)
        ),
        counts=weighted_counts(group, weights=np.ones(len(group)), minlength=groups),
        inverse=group,
    )


def symmetric(entries: dict[tuple[int, int], float | FloatArray], size: int) -> FloatArray:
    """Symmetric (size, size, ...) matrices from their upper-triangle entries, scalars or
    arrays (one matrix per element); absent entries are zero."""
    shape = np.broadcast_shapes(*(np.shape(value) for value in entries.values()))
    matrix = np.zeros((size, size, *shape))
    for (i, j), value in entries.items():
        matrix[i, j] = matrix[j, i] = value
    return matrix


Derivatives = tuple[float, FloatArray, FloatArray]
"""(weighted log-likelihood, its gradient, its Hessian), all in natural parameters."""
LogLikelihoodDerivatives = Callable[[FloatArray], Derivatives]


@dataclass(frozen=True)
class MaximumLikelihoodFit:
    params: FloatArray
    log_likelihood: float
    standard_errors: FloatArray
    converged: bool
    message: str


def fit_log_parameters(
    *,
    log_likelihood_derivatives: LogLikelihoodDerivatives,
    initial_params: FloatArray,
    total_weight: float,
    penalizer: float = 0.0,
) -> MaximumLikelihoodFit:
    """Maximise over log-parameters with Newton steps and a backtracking line search.

    With three or four parameters the exact Hessian is cheap and Newton needs a handful
    of evaluations where a quasi-Newton method needs dozens; the same Hessian gives the
    standard errors. The objective is the per-customer mean, so the same tolerances work
    for 2,000 and 1,000,000 customers; the penalty is lifetimes'
    ``penalizer * sum(params**2)`` on that mean, so penalised fits are comparable.
    """

    def objective(log_params: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        params = np.exp(log_params)
        log_likelihood, gradient, hessian = log_likelihood_derivatives(params)
        penalty = penalizer * params**2
        value = -log_likelihood / total_weight + float(np.sum(penalty))
        scaled_gradient = gradient * params
        log_gradient = -scaled_gradient / total_weight + 2.0 * penalty
        log_hessian = -(hessian * np.outer(params, params)) / total_weight
        log_hessian[np.diag_indices_from(log_hessian)] += log_gradient + 2.0 * penalty
        return value, log_gradient, log_hessian

    log_params = np.log(np.asarray(initial_params, dtype=np.float64))
    value, gradient, hessian = objective(log_params)
    if not _is_finite(value, gradient, hessian):
        raise ValueError("the log-likelihood is not finite at the start point")
    converged, message = False, f"no convergence in {_MAX_ITERATIONS} Newton steps"
    for _ in range(_MAX_ITERATIONS):
        step, is_newton = _newton_step(gradient, hessian)
        if is_newton and float(np.max(np.abs(step))) <= _FINAL_STEP:
            # Quadratic convergence: the error after this step is of order its square,
            # so it is taken without evaluating the likelihood again.
            log_params = log_params + step
            converged, message = True, "converged"
            break
        slope = float(gradient @ step)
        while True:
            trial = objective(log_params + step)
            if _is_finite(*trial) and trial[0] <= value + 1e-4 * slope:
                break
            step, slope = 0.5 * step, 0.5 * slope
            if float(np.max(np.abs(step))) < _SMALLEST_STEP:
                break
        if not (_is_finite(*trial) and trial[0] <= value + 1e-4 * slope):
            # Rounding, not the model, decides at a flat optimum or boundary.
            converged = float(np.max(np.abs(gradient))) <= _FLAT_GRADIENT
            message = "the line search found no better likelihood"
            break
        log_params = log_params + step
        decrease = value - trial[0]
        value, gradient, hessian = trial
        if decrease <= _STAGNATION * max(abs(value), 1.0):
            # The supremum lies at a boundary (say, no dropout: s -> 0, beta -> inf) and
            # the likelihood has stopped changing: there is nothing left to gain.
            converged = float(np.max(np.abs(gradient))) <= _FLAT_GRADIENT
            message = "the likelihood stopped changing"
            break
    params = np.exp(log_params)
    return MaximumLikelihoodFit(
        params=params,
        log_likelihood=float(np.sum(penalizer * params**2) - value) * total_weight,
        standard_errors=_standard_errors(
            hessian_in_log_params=hessian * total_weight, params=params
        ),
        converged=converged,
        message=message,
    )


def _is_finite(value: float, gradient: FloatArray, hessian: FloatArray) -> bool:
    return bool(np.isfinite(value) and np.isfinite(gradient).all() and np.isfinite(hessian).all())


def _newton_step(gradient: FloatArray, hessian: FloatArray) -> tuple[FloatArray, bool]:
    """The Newton step, with negative or tiny curvatures flipped and floored so that it
    always descends (far from the optimum the Hessian need not be positive definite),
    and capped at _MAX_LOG_STEP; also whether it is the plain Newton step."""
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    floor = 1e-10 * max(float(np.max(np.abs(eigenvalues))), 1e-300)
    curvature = np.maximum(np.abs(eigenvalues), floor)
    step = -eigenvectors @ ((eigenvectors.T @ gradient) / curvature)
    largest = float(np.max(np.abs(step)))
    if largest > _MAX_LOG_STEP:
        return step * (_MAX_LOG_STEP / largest), False
    return step, bool(eigenvalues.min() > floor)


def _standard_errors(*, hessian_in_log_params: FloatArray, params: FloatArray) -> FloatArray:
    """Delta method: at the optimum d(param) = param * d(log param), so scale by params.

    A singular Hessian (a flat direction) gives infinite errors, never NaN.
    """
    try:
        covariance = np.linalg.inv(hessian_in_log_params)
    except np.linalg.LinAlgError:
        return np.full(len(params), np.inf)
    variances = np.diag(covariance)
    with np.errstate(invalid="ignore"):
        errors = params * np.sqrt(np.where(variances > 0, variances, np.inf))
    return np.where(np.isfinite(errors), errors, np.inf)
