"""Derives the erf polynomial coefficients in csrc/kernels/kernel_math.h.

Not a test: a record of where the constants come from, re-runnable with
`python tests/cpp/fit_erf.py` (needs numpy and scipy). Prints the f32
coefficients (highest degree first, as the Horner code uses them) and the
worst relative error of each fit evaluated in f32.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import Chebyshev
from scipy.special import erf, erfcx


def fit(x: np.ndarray, y: np.ndarray, deg: int) -> np.ndarray:
    """Chebyshev least-squares fit, returned as monomial coefficients (low -> high)."""
    return Chebyshev.fit(x, y, deg).convert(kind=np.polynomial.Polynomial).coef


def horner_f32(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    r = np.full_like(x, np.float32(coef[-1]))
    for c in coef[-2::-1]:
        r = (r * x + np.float32(c)).astype(np.float32)
    return r


def main() -> None:
    # |x| <= 1: erf(x) = x * P(x^2), P of degree 6.
    x = np.linspace(0.0, 1.0, 20001)
    ratio = np.where(x > 0, erf(x) / np.where(x > 0, x, 1.0), 2.0 / np.sqrt(np.pi))
    small = fit(x * x, ratio, 6)
    xs = np.linspace(0.0, 1.0, 100001).astype(np.float32)
    got = xs * horner_f32(small, xs * xs)
    want = erf(xs.astype(np.float64))
    print("erf/x on [0,1], x^2:", ", ".join(f"{np.float32(c):.9e}f" for c in small[::-1]))
    print("  max rel err (f32):", np.max(np.abs(got - want) / np.maximum(want, 1e-30)))

    # a >= 1: erfcx(a) = e^(a^2) erfc(a) = Q(t), t = 1 / (1 + a/2), Q of degree 9.
    a = np.linspace(1.0, 10.0, 200001)
    big = fit(1.0 / (1.0 + 0.5 * a), erfcx(a), 9)
    a32 = np.linspace(1.0, 10.0, 100001).astype(np.float32)
    t32 = (np.float32(1.0) / (np.float32(1.0) + np.float32(0.5) * a32)).astype(np.float32)
    got = horner_f32(big, t32)
    want = erfcx(a32.astype(np.float64))
    print("erfcx on [1,10], t:", ", ".join(f"{np.float32(c):.9e}f" for c in big[::-1]))
    print("  max rel err (f32):", np.max(np.abs(got - want) / want))


if __name__ == "__main__":
    main()
