"""The three Rosetta rules written for adlib.

The book's Rosetta appendix includes the marked sections of this file
verbatim, so what a reader sees is what ``tests/test_rosetta.py`` runs.
The JAX, PyTorch and Julia versions live next to this file.
"""
import numpy as np
import scipy.linalg

import adlib as ad
import adlib.numpy as anp

# [start ysinx]
@ad.custom_jvp
def ysinx(x, y):
    return y * np.sin(x)


@ysinx.defjvp
def ysinx_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    # written with adlib.numpy, so adlib can transpose it for reverse mode
    z_dot = y * anp.cos(x) * x_dot + anp.sin(x) * y_dot
    return ysinx(x, y), z_dot


@ad.custom_vjp
def ysinx_rev(x, y):
    return y * np.sin(x)


def ysinx_fwd(x, y):
    sin_x = np.sin(x)
    return y * sin_x, (y * np.cos(x), sin_x)  # output, residuals


def ysinx_bwd(residuals, z_bar):
    y_cos_x, sin_x = residuals
    return y_cos_x * z_bar, sin_x * z_bar  # one cotangent per input


ysinx_rev.defvjp(ysinx_fwd, ysinx_bwd)
# [end ysinx]


# [start solve]
@ad.custom_jvp
def solve(A, b):
    return scipy.linalg.lu_solve(scipy.linalg.lu_factor(A), b)


@solve.defjvp
def solve_jvp(primals, tangents):
    A, b = primals
    A_dot, b_dot = tangents
    lu = scipy.linalg.lu_factor(A)  # one factorization ...
    x = scipy.linalg.lu_solve(lu, b)
    # ... reused for the tangent: A x_dot = b_dot - A_dot x
    x_dot = scipy.linalg.lu_solve(lu, b_dot - A_dot @ x)
    return x, x_dot


@ad.custom_vjp
def solve_rev(A, b):
    return scipy.linalg.lu_solve(scipy.linalg.lu_factor(A), b)


def solve_fwd(A, b):
    lu = scipy.linalg.lu_factor(A)
    x = scipy.linalg.lu_solve(lu, b)
    return x, (lu, x)


def solve_bwd(residuals, x_bar):
    lu, x = residuals
    w = scipy.linalg.lu_solve(lu, x_bar, trans=1)  # A^T w = x_bar
    return -np.outer(w, x), w  # (A_bar, b_bar)


solve_rev.defvjp(solve_fwd, solve_bwd)
# [end solve]


# [start eqp]
def kkt_matrix(Q, A):
    """[[sym(Q), A^T], [A, 0]]: only sym(Q) enters the problem."""
    m = A.shape[0]
    return np.block([[0.5 * (Q + Q.T), A.T], [A, np.zeros((m, m))]])


def kkt_solve(Q, c, A, b):
    """Factorize the KKT matrix M once; return the factors, x and lam."""
    n = Q.shape[0]
    lu = scipy.linalg.lu_factor(kkt_matrix(Q, A))
    z = scipy.linalg.lu_solve(lu, np.concatenate([-c, b]))
    return lu, z[:n], z[n:]


@ad.custom_jvp
def solve_eqp(Q, c, A, b):
    _, x, lam = kkt_solve(Q, c, A, b)
    return x, lam


@solve_eqp.defjvp
def solve_eqp_jvp(primals, tangents):
    Q, c, A, b = primals
    Q_dot, c_dot, A_dot, b_dot = tangents
    lu, x, lam = kkt_solve(Q, c, A, b)
    r_x = 0.5 * (Q_dot + Q_dot.T) @ x + c_dot + A_dot.T @ lam
    r_lam = A_dot @ x - b_dot
    z_dot = -scipy.linalg.lu_solve(lu, np.concatenate([r_x, r_lam]))
    n = x.shape[0]
    return (x, lam), (z_dot[:n], z_dot[n:])  # M z_dot = -r


@ad.custom_vjp
def solve_eqp_rev(Q, c, A, b):
    _, x, lam = kkt_solve(Q, c, A, b)
    return x, lam


def solve_eqp_fwd(Q, c, A, b):
    lu, x, lam = kkt_solve(Q, c, A, b)
    return (x, lam), (lu, x, lam)


def solve_eqp_bwd(residuals, cotangents):
    lu, x, lam = residuals
    x_bar, lam_bar = cotangents
    n = x.shape[0]
    # M is symmetric: M w = (x_bar, lam_bar), with the same factors
    w = scipy.linalg.lu_solve(lu, np.concatenate([x_bar, lam_bar]))
    w_x, w_lam = w[:n], w[n:]
    Q_bar = -0.5 * (np.outer(w_x, x) + np.outer(x, w_x))
    c_bar = -w_x
    A_bar = -(np.outer(lam, w_x) + np.outer(w_lam, x))
    b_bar = w_lam
    return Q_bar, c_bar, A_bar, b_bar


solve_eqp_rev.defvjp(solve_eqp_fwd, solve_eqp_bwd)
# [end eqp]
