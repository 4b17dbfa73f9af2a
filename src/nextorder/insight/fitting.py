"""Maximum-likelihood machinery shared by the BG/NBD, Pareto/NBD and Gamma-Gamma models.

Every model supplies one function returning the weighted log-likelihood and its analytic
gradient in natural parameters; this module turns that into a fit over log-parameters
(so positivity needs no bounds), an optional L2 penalty, and standard errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
ArrayLikeFloat = FloatArray | Sequence[float]


def weighted_counts(index: IntArray, *, weights: FloatArray, minlength: int = 0) -> FloatArray:
    """Sum of weights per index value, typed as floats (np.bincount's stub says ints)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=minlength), dtype=np.float64)


@dataclass(frozen=True)
class DistinctValues:
    """A column as its distinct values plus an index back: special functions of the
    frequency (gammaln, digamma) then cost one call per distinct count, not per row."""

    values: FloatArray
    inverse: IntArray

    @classmethod
    def of(cls, column: FloatArray) -> DistinctValues:
        values, inverse = np.unique(column, return_inverse=True)
        return cls(values=values, inverse=inverse.astype(np.int64))

    def total_weights(self, weights: FloatArray) -> FloatArray:
        return weighted_counts(self.inverse, weights=weights, minlength=len(self.values))


@dataclass(frozen=True)
class SplitTerms:
    """Log-likelihood terms split into a part per row and a part per distinct frequency.

    A fit only needs weighted sums, and the frequency part then sums over a few dozen
    distinct counts instead of being gathered back to every row.
    """

    row_values: FloatArray
    row_gradient: FloatArray
    frequency_values: FloatArray
    frequency_gradient: FloatArray

    def per_row(self, frequency: DistinctValues) -> tuple[FloatArray, FloatArray]:
        return (
            self.row_values + self.frequency_values[frequency.inverse],
            self.row_gradient + self.frequency_gradient[frequency.inverse],
        )

    def weighted_sum(
        self, *, row_weights: FloatArray, frequency_weights: FloatArray
    ) -> tuple[float, FloatArray]:
        # einsum, not @: OpenBLAS' threaded gemv stalls on 2 cores next to Polars' pool.
        value = np.einsum("i,i->", row_weights, self.row_values) + np.einsum(
            "i,i->", frequency_weights, self.frequency_values
        )
        gradient = np.einsum("i,ij->j", row_weights, self.row_gradient) + np.einsum(
            "i,ij->j", frequency_weights, self.frequency_gradient
        )
        return float(value), gradient


LogLikelihoodAndGradient = Callable[[FloatArray], tuple[float, FloatArray]]
"""params -> (sum over customers of weight * log-likelihood, its gradient in params)."""


@dataclass(frozen=True)
class DistinctRows:
    """Rows that share every column give the same likelihood term, so fit them once."""

    columns: tuple[FloatArray, ...]
    counts: FloatArray
    inverse: IntArray


def compress_rows(*, columns: Sequence[ArrayLikeFloat]) -> DistinctRows:
    """Distinct rows of the stacked columns (sorted), their counts, and each row's index.

    Same result as ``np.unique(np.column_stack(columns), axis=0, return_inverse=True,
    return_counts=True)``, which sorts rows as opaque bytes; a lexsort of the columns is
    several times faster on a million rows.
    """
    arrays = [np.asarray(column, dtype=np.float64) for column in columns]
    order = np.lexsort(arrays[::-1])
    starts_group = np.ones(len(order), dtype=bool)
    for array in arrays:
        ordered = array[order]
        starts_group[1:] &= ordered[1:] == ordered[:-1]
    starts_group = ~starts_group
    if len(order):
        starts_group[0] = True
    group_of_sorted = np.cumsum(starts_group) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = group_of_sorted
    first_rows = order[starts_group]
    return DistinctRows(
        columns=tuple(array[first_rows] for array in arrays),
        counts=weighted_counts(group_of_sorted, weights=np.ones(len(order))),
        inverse=inverse,
    )


@dataclass(frozen=True)
class MaximumLikelihoodFit:
    params: FloatArray
    log_likelihood: float
    standard_errors: FloatArray
    converged: bool
    message: str


def fit_log_parameters(
    *,
    log_likelihood_and_gradient: LogLikelihoodAndGradient,
    initial_params: FloatArray,
    total_weight: float,
    penalizer: float = 0.0,
) -> MaximumLikelihoodFit:
    """Maximise over log-parameters with L-BFGS-B on the per-customer mean.

    The mean keeps the objective's scale independent of the number of customers, so the
    same tolerances work for 2,000 and 1,000,000 customers. The penalty is lifetimes'
    ``penalizer * sum(params**2)`` on that mean, so penalised fits are comparable.
    """

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        log_likelihood, gradient = log_likelihood_and_gradient(params)
        value = -log_likelihood / total_weight + penalizer * float(np.sum(params**2))
        log_gradient = -gradient * params / total_weight + 2.0 * penalizer * params**2
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_params)
        return value, log_gradient

    result = minimize(
        objective,
        np.log(np.asarray(initial_params, dtype=np.float64)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20},
    )
    log_params = np.asarray(result.x, dtype=np.float64)
    params = np.exp(log_params)
    log_likelihood, _ = log_likelihood_and_gradient(params)
    hessian = _numerical_hessian(
        gradient=lambda theta: objective(theta)[1] * total_weight, at=log_params
    )
    return MaximumLikelihoodFit(
        params=params,
        log_likelihood=float(log_likelihood),
        standard_errors=_standard_errors(hessian_in_log_params=hessian, params=params),
        # L-BFGS-B may stop on a line search at the optimum; a vanishing gradient counts.
        converged=bool(result.success) or float(np.max(np.abs(result.jac))) < 1e-6,
        message=str(result.message),
    )


def _numerical_hessian(
    *, gradient: Callable[[FloatArray], FloatArray], at: FloatArray
) -> FloatArray:
    """Central differences of the analytic gradient: one column per parameter."""
    size = len(at)
    hessian = np.empty((size, size))
    for i in range(size):
        step = 1e-5 * max(1.0, abs(at[i]))
        shift = np.zeros(size)
        shift[i] = step
        hessian[:, i] = (gradient(at + shift) - gradient(at - shift)) / (2.0 * step)
    return 0.5 * (hessian + hessian.T)


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
