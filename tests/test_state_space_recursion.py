"""The blocked linear recursion against the plain per-step loop."""

import numpy as np
import pytest

from seqmodels.inference.recursion import block_length, linear_recursion


def _loop(x, A, U):
    out = np.empty_like(U)
    for t in range(U.shape[1]):
        x = x @ A + U[:, t]
        out[:, t] = x
    return out


@pytest.mark.parametrize("n, L, block", [(1, 1000, 8), (3, 777, 8), (2, 130, 3), (5, 50, 1),
                                         (1, 17, 8), (4, 3001, None)])
def test_blocked_recursion_equals_the_loop(n, L, block):
    rng = np.random.default_rng(L)
    A = rng.normal(size=(4, 4))
    A *= 0.97 / np.max(np.abs(np.linalg.eigvals(A)))
    x, U = rng.normal(size=(n, 4)), rng.normal(size=(n, L, 4))
    want = _loop(x, A, U)
    got = linear_recursion(x, A, U, block)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * np.abs(want).max())


def test_marginally_stable_transition_and_block_choice():
    # a rotation (eigenvalues on the unit circle) keeps the state's norm: no drift in blocks
    c, s = np.cos(0.1), np.sin(0.1)
    A = np.array([[c, s], [-s, c]])
    x, U = np.array([[1.0, 0.0]]), np.zeros((1, 5000, 2))
    got = linear_recursion(x, A, U, 8)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, rtol=1e-11)
    np.testing.assert_allclose(got[0, -1], x[0] @ np.linalg.matrix_power(A, 5000), atol=1e-11)
    assert block_length(1, 4) == 8 and block_length(10_000, 4) == 1
