"""A closed form of what full-batch Adam does to a linear model over fixed features.

The fit: ``y_hat = A w + b`` per channel, loss ``(1/N) ||y_hat - y||^2``, Adam with learning
rate ``lr``, ``beta2`` and ``eps`` for ``T`` full-batch steps from a (near) zero start. Three
effects decide where Adam ends, and each has a closed form:

1. **Per-weight normalisation** (sign descent). Adam divides each weight's step by its RMS
   gradient, so at first every weight moves by about ``lr`` per step whatever its gradient's
   size. A training sample ``i`` is then fit after ``T_i = |y_i| / (lr (||a_i||_1 + 1))``
   steps (its row's L1 norm, plus the bias), its residual falling about linearly. Weight
   ``k`` sees the gradient ``(2/N) sum_i r_i(t) A_ik``; its mean square over the phase in
   which it moves is ``v_k = (2/N)^2 (sum_i u_i A_ik)^2 / T*_k`` with
   ``u_i = y_i sqrt(T_i / 3)`` and ``T*_k`` the gradient-energy-weighted mean of ``T_i``
   over the samples that reach ``k``. Adam's effective preconditioner is
   ``P_k = 1 / (sqrt(v_k) + kappa eps)``. Weights far from every sample (gradient below
   ``eps``) barely move: this is where a too-narrow basis stops reaching the points between
   samples. Weights shared by a large and a small sample keep moving until the large one is
   fit, so the fit between them leans towards the larger value (a "water-filling" effect
   that plain gradient descent does not have).
2. **Preconditioned descent.** With ``P`` fixed, ``w <- w - lr P grad`` is gradient descent
   in the metric ``P^-1``: on the eigenvectors ``u_j`` of ``K = A P A^T + P_b 1 1^T`` the
   training residual decays by ``(1 - eta lambda_j)`` per step, ``eta = 2 lr / N``, and the
   fit anywhere is ``K_q U diag(eta (1 - (1 - eta lambda)^tau) / (eta lambda)) U^T y``.
3. **Renormalisation.** As the residual shrinks, Adam's running RMS (``beta2`` memory)
   shrinks with it, so its steps do not slow down as gradient descent's do: Adam keeps
   fitting poorly conditioned directions late in training (where a too-narrow basis or too
   many high frequencies memorise and alias). This is gradient descent whose clock runs
   ``s_t = sqrt(E_1 / Vhat_t)`` times faster, ``E_t = r_t^T K r_t`` the preconditioned
   gradient energy and ``Vhat_t`` its bias-corrected running mean; the effective time is
   ``tau = sum_t s_t``, integrated in blocks of :data:`BLOCK` steps.

Against posenc's Adam fits of P1's 1D protocol (10000 Gaussian or triangle centres, or 256
random Fourier frequencies; 2000 steps at lr 1e-3) the closed form predicts test PSNR within
about half a dB over the useful bandwidth range, the position of the narrow-basis cliff
included (``kappa`` is calibrated on rows outside the validation set). The closed-form
solver is the limit ``P = I``, ``tau -> infinity``: the minimum-norm least-squares fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posenc.oracle.features import EmbeddedRows

BLOCK = 50
"""Steps integrated at a time when the effective time of Adam is summed."""
EPS_FACTOR = 8.0
"""``kappa``: Adam's ``eps`` stops slowly moving weights about this many times earlier than
the RMS bound alone says (the gradient of a weight that is reached only by a basis tail
shrinks with the residual it serves); calibrated on the development rows."""
ADAM_EPS = 1e-8
"""torch's default Adam ``eps``, which posenc's fits use."""
PINV_RTOL = 1e-13
"""Eigenvalue of the Gram matrix, relative to the largest, below which the closed-form solution
drops a direction (a singular value 3e-7 of the largest: the Gram squares the embedded
matrix's condition, so smaller ones are rounding)."""


@dataclass(frozen=True)
class LinearFitModel:
    """How a linear fit is trained: Adam (``steps``, ``lr``, ``beta2``) or, with ``steps``
    ``None``, the minimum-norm least-squares solution.

    ``gradient_scale`` is the gradient a weight receives per unit of a linear model's (1 for
    a linear model; a network's first layer receives the output error through the network's
    backward gain): it sets how far Adam's ``eps`` reaches. ``bias``: whether the layer has
    one (P2's separable layer has none)."""

    steps: int | None
    lr: float = 1e-3
    beta2: float = 0.999
    eps: float = ADAM_EPS
    gradient_scale: float = 1.0
    bias: bool = True

    @property
    def closed_form(self) -> bool:
        """Whether the fit is the least-squares solution rather than Adam's."""
        return self.steps is None


def predict_linear_fit(
    rows: EmbeddedRows, targets: np.ndarray, fit: LinearFitModel
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted fit at the training rows (``N x C``) and at the query rows (``M x C``).

    ``targets`` holds the training values (``N x C``); every channel is a separate linear
    fit (as Adam treats the weights of each output separately).
    """
    train, query = [], []
    for channel in targets.T:
        spectrum = FitSpectrum.of(rows, channel, fit)
        fit_train, fit_query = spectrum.evaluate(spectrum.solve(channel[:, None]))
        train.append(fit_train[:, 0])
        query.append(fit_query[:, 0])
    return np.stack(train, axis=1), np.stack(query, axis=1)


def fit_operators(
    rows: EmbeddedRows, representative: np.ndarray, fit: LinearFitModel
) -> tuple[np.ndarray, np.ndarray]:
    """The fit as linear maps of the training values: ``(N x N, M x N)`` matrices giving the
    fit at the training and the query rows, with Adam's preconditioner and effective time
    taken from the ``representative`` training values (``N``)."""
    spectrum = FitSpectrum.of(rows, representative, fit)
    return spectrum.evaluate(spectrum.solve(np.eye(len(representative))))


@dataclass(frozen=True)
class FitSpectrum:
    """The eigen-decomposition of ``K = A diag(w P) A^T + P_b`` and the response of the fit
    to each eigen-direction (module docstring, steps 2 and 3)."""

    rows: EmbeddedRows
    weight: np.ndarray
    bias_weight: float
    vectors: np.ndarray
    response: np.ndarray

    @classmethod
    def of(cls, rows: EmbeddedRows, values: np.ndarray, fit: LinearFitModel) -> FitSpectrum:
        """The spectrum of the fit of ``values`` (``N``)."""
        if fit.closed_form:
            weight, bias_weight = np.ones(rows.num_features), 1.0
        else:
            weight, bias_weight = adam_preconditioner(rows, values, fit)
        bias_weight = bias_weight if fit.bias else 0.0
        eigenvalues, vectors = np.linalg.eigh(rows.gram(weight) + bias_weight)
        eigenvalues = np.clip(eigenvalues, 0.0, None)
        if fit.closed_form:
            keep = eigenvalues > PINV_RTOL * float(eigenvalues[-1])
            response = np.where(keep, 1.0 / np.where(keep, eigenvalues, 1.0), 0.0)
        else:
            assert fit.steps is not None
            rate = 2.0 * fit.lr / len(values)
            energies = (vectors.T @ values) ** 2
            time = effective_time(eigenvalues, energies, rate, fit.steps, fit.beta2)
            response = descent_response(eigenvalues, rate, time)
        return cls(rows, weight, bias_weight, vectors, response)

    def solve(self, values: np.ndarray) -> np.ndarray:
        """Dual coefficients ``s = U diag(response) U^T Y`` of training values ``Y`` (``N x m``)."""
        return self.vectors @ (self.response[:, None] * (self.vectors.T @ values))

    def evaluate(self, solution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fit ``A diag(w P) A^T s + P_b 1^T s`` at the training rows, and the same with
        the query rows ``Q`` in front: ``(N x m, M x m)``."""
        weights = (self.rows.weights * self.weight)[:, None]
        feature_weights = weights * np.asarray(self.rows.train.T @ solution)
        bias = self.bias_weight * solution.sum(axis=0, keepdims=True)
        return (
            np.asarray(self.rows.train @ feature_weights) + bias,
            np.asarray(self.rows.query @ feature_weights) + bias,
        )


def adam_preconditioner(
    rows: EmbeddedRows, values: np.ndarray, fit: LinearFitModel
) -> tuple[np.ndarray, float]:
    """``P_k`` for every kept feature and ``P_b`` for the bias (module docstring, step 1)."""
    count = len(values)
    speed = fit.lr * (rows.row_sums() + 1.0)
    assert fit.steps is not None
    duration = np.minimum(np.abs(values) / speed, fit.steps)
    amplitude = values * np.sqrt(duration / 3.0)
    energy_weights = values**2 * duration
    sums = rows.feature_sums(amplitude[:, None])
    squared = rows.feature_sums(np.stack([energy_weights, energy_weights * duration], axis=1), True)
    mean_duration = _ratio(squared[:, 1], squared[:, 0])
    scale = 2.0 / count
    rms = scale * np.abs(sums[:, 0]) / np.sqrt(np.maximum(mean_duration, 1.0))
    bias_duration = _ratio(float(np.sum(energy_weights * duration)), float(np.sum(energy_weights)))
    bias_rms = scale * abs(float(np.sum(amplitude))) / math.sqrt(max(float(bias_duration), 1.0))
    floor = EPS_FACTOR * fit.eps / fit.gradient_scale
    return 1.0 / (rms + floor), 1.0 / (bias_rms + floor)


def effective_time(
    eigenvalues: np.ndarray, energies: np.ndarray, rate: float, steps: int, beta2: float
) -> float:
    """``tau = sum_t sqrt(E_1 / Vhat_t)`` (module docstring, step 3), in blocks of steps."""
    tau, average, first = 0.0, 0.0, None
    decay = beta2**BLOCK
    done = 0
    while done < steps:
        block = min(BLOCK, steps - done)
        energy = float(np.sum(eigenvalues * energies * np.exp(-2.0 * rate * eigenvalues * tau)))
        first = energy if first is None else first
        average = decay * average + (1.0 - decay) * energy
        corrected = average / (1.0 - beta2 ** (done + block))
        tau += block * min(math.sqrt(first / max(corrected, 1e-300)), 1e12)
        done += block
    return tau


def descent_response(eigenvalues: np.ndarray, rate: float, time: float) -> np.ndarray:
    """``eta (1 - (1 - eta lambda)^tau) / (eta lambda)``: the weight gradient descent gives an
    eigen-direction after time ``tau`` (directions with ``eta lambda >= 1`` converge)."""
    step = rate * eigenvalues
    stable = step < 1.0
    log_factor = np.log1p(-np.where(stable, step, 0.0))
    reached = np.where(stable, -np.expm1(time * log_factor), 1.0)
    tiny = step < 1e-14
    return rate * np.where(tiny, time, reached / np.where(tiny, 1.0, step))


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    positive = denominator > 0
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), 1.0)
