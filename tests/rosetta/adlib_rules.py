"""The Rosetta rules written for adlib.

The book's Rosetta appendix includes the marked sections of this file
verbatim, so what a reader sees is what ``tests/test_rosetta.py`` runs.
The JAX, PyTorch and Julia versions live next to this file. Only adlib's
public API is used. Most rules are a ``custom_jvp`` whose tangent is
computed with ``adlib.numpy``: it is linear in the tangents, so adlib
transposes it for reverse mode.
"""
import numpy as np
import scipy.linalg

import adlib as ad
import adlib.linalg as alg
import adlib.numpy as anp
from adlib.qp import solve_eqp as library_eqp

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


# [start solve_eqp]
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
# [end solve_eqp]


# [start inv]
@ad.custom_jvp
def inv(A):
    return np.linalg.inv(A)


@inv.defjvp
def inv_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    Y = inv(A)
    return Y, -(Y @ A_dot @ Y)  # from A Y = I: A_dot Y + A Y_dot = 0
# [end inv]


# [start det]
@ad.custom_jvp
def det(A):
    return np.linalg.det(A)


@det.defjvp
def det_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    y = det(A)
    # det(A) tr(A^{-1} A_dot), with a solve instead of an inverse
    return y, y * anp.trace(anp.linalg.solve(A, A_dot))
# [end det]


# [start logabsdet]
@ad.custom_jvp
def logabsdet(A):
    return np.linalg.slogdet(A)[1]  # log|det A|; the sign has no derivative


@logabsdet.defjvp
def logabsdet_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    return logabsdet(A), anp.trace(anp.linalg.solve(A, A_dot))
# [end logabsdet]


# [start quad_form]
@ad.custom_jvp
def quad_form(x, Q):
    return 0.5 * x @ Q @ x  # Q need not be symmetric


@quad_form.defjvp
def quad_form_jvp(primals, tangents):
    (x, Q), (x_dot, Q_dot) = primals, tangents
    y_dot = 0.5 * (x_dot @ Q @ x + x @ Q @ x_dot + x @ Q_dot @ x)
    return quad_form(x, Q), y_dot
# [end quad_form]


# [start congruence]
@ad.custom_jvp
def congruence(A, B):
    return B.T @ A @ B


@congruence.defjvp
def congruence_jvp(primals, tangents):
    (A, B), (A_dot, B_dot) = primals, tangents
    C_dot = B_dot.T @ A @ B + B.T @ A_dot @ B + B.T @ A @ B_dot
    return congruence(A, B), C_dot
# [end congruence]


# [start lyapunov]
@ad.custom_jvp
def lyapunov(A, Q):
    """P with A P + P A^T + Q = 0."""
    return scipy.linalg.solve_continuous_lyapunov(A, -Q)


@lyapunov.defjvp
def lyapunov_jvp(primals, tangents):
    (A, Q), (A_dot, Q_dot) = primals, tangents
    P = lyapunov(A, Q)
    # the same equation, with A_dot P + P A_dot^T + Q_dot as its Q
    P_dot = alg.solve_lyapunov(A, A_dot @ P + P @ A_dot.T + Q_dot)
    return P, P_dot
# [end lyapunov]


# [start sylvester]
@ad.custom_jvp
def sylvester(A, B, C):
    """X with A X + X B = C."""
    return scipy.linalg.solve_sylvester(A, B, C)


@sylvester.defjvp
def sylvester_jvp(primals, tangents):
    (A, B, C), (A_dot, B_dot, C_dot) = primals, tangents
    X = sylvester(A, B, C)
    X_dot = alg.solve_sylvester(A, B, C_dot - A_dot @ X - X @ B_dot)
    return X, X_dot
# [end sylvester]


# [start cholesky]
def sym(X):
    return 0.5 * (X + X.T)


def phi(X):
    """Strictly lower triangle of X plus half its diagonal."""
    return anp.tril(X) - 0.5 * X * np.eye(X.shape[0])


@ad.custom_jvp
def cholesky(A):
    # the factor of sym(A): the rule is then exact in every direction
    return np.linalg.cholesky(sym(A))


@cholesky.defjvp
def cholesky_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    L = cholesky(A)
    L_inv = anp.linalg.inv(L)
    return L, L @ phi(L_inv @ sym(A_dot) @ L_inv.T)
# [end cholesky]


# [start eigh]
def fix_signs(V):
    """Flip each eigenvector so that its largest entry is positive."""
    big = np.argmax(np.abs(V), axis=0)
    return V * np.sign(V[big, np.arange(V.shape[1])])


@ad.custom_jvp
def eigh(A):
    d, V = np.linalg.eigh(sym(A))  # the eigenpairs of sym(A)
    return d, fix_signs(V)


@eigh.defjvp
def eigh_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    d, V = eigh(A)
    M = V.T @ sym(A_dot) @ V
    n = d.shape[0]
    gaps = d[None, :] - d[:, None] + np.eye(n)  # d_j - d_i, 1 on the diagonal
    F = (1.0 - np.eye(n)) / gaps  # assumes distinct eigenvalues
    return (d, V), (anp.diagonal(M), V @ (F * M))
# [end eigh]


# [start expm]
def expm_frechet(A, E):
    """Derivative of expm at A in direction E: a block of a 2n x 2n expm."""
    n = A.shape[0]
    top = anp.concatenate([A, E], axis=1)
    bottom = anp.concatenate([np.zeros((n, n)), A], axis=1)
    return alg.expm(anp.concatenate([top, bottom], axis=0))[:n, n:]


@ad.custom_jvp
def expm(A):
    return scipy.linalg.expm(A)


@expm.defjvp
def expm_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    return expm(A), expm_frechet(A, A_dot)


@ad.custom_vjp
def expm_rev(A):
    return scipy.linalg.expm(A)


def expm_fwd(A):
    return scipy.linalg.expm(A), A


def expm_bwd(A, Y_bar):
    return (expm_frechet(A.T, Y_bar),)  # the adjoint is the derivative at A^T


expm_rev.defvjp(expm_fwd, expm_bwd)
# [end expm]


# [start frobenius]
@ad.custom_jvp
def frobenius(A):
    return np.sqrt(np.sum(A * A))


@frobenius.defjvp
def frobenius_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    y = frobenius(A)
    return y, anp.sum(A * A_dot) / y  # <A, A_dot> / ||A||, for A != 0
# [end frobenius]


# [start spectral]
@ad.custom_jvp
def spectral(A):
    return np.linalg.norm(A, 2)


@spectral.defjvp
def spectral_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    U, _, Vt = np.linalg.svd(A)  # plain A: first-order derivatives only
    u, v = U[:, 0], Vt[0]  # the top singular pair: A v = s u
    return spectral(A), u @ A_dot @ v  # assumes a simple top singular value
# [end spectral]


# [start softplus]
@ad.custom_jvp
def softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): never overflows
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    sigmoid = anp.exp(-softplus(-x))  # 1 / (1 + e^{-x}), without overflow
    return softplus(x), sigmoid * x_dot
# [end softplus]


# [start logsumexp]
@ad.custom_jvp
def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))  # the largest exponent is 0


@logsumexp.defjvp
def logsumexp_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    y = logsumexp(x)
    return y, anp.sum(anp.exp(x - y) * x_dot)  # softmax(x) . x_dot
# [end logsumexp]


# [start cubic_root]
def newton_cubic(a):
    """Root of a x^3 - x - 2 = 0 by Newton's method, on plain floats."""
    x = 1.5
    for _ in range(100):
        step = (a * x**3 - x - 2) / (3 * a * x**2 - 1)
        x -= step
        if abs(step) < 1e-15:
            break
    return x


@ad.custom_jvp
def cubic_root(a):
    return newton_cubic(float(a))


@cubic_root.defjvp
def cubic_root_jvp(primals, tangents):
    (a,), (a_dot,) = primals, tangents
    x = cubic_root(a)
    # F(x, a) = a x^3 - x - 2: dF/dx x_dot + dF/da a_dot = 0
    return x, -(x**3) * a_dot / (3 * a * x**2 - 1)
# [end cubic_root]


# [start fixed_point]
@ad.custom_jvp
def fixed_point(W, x):
    """z = tanh(W z + x), by iteration (W must make the map a contraction)."""
    z = np.zeros_like(x)
    for _ in range(1000):
        z_new = np.tanh(W @ z + x)
        if np.max(np.abs(z_new - z)) < 1e-14:
            break
        z = z_new
    return z_new


@fixed_point.defjvp
def fixed_point_jvp(primals, tangents):
    (W, x), (W_dot, x_dot) = primals, tangents
    z = fixed_point(W, x)
    D = 1 - z**2  # tanh' at the fixed point, a diagonal
    J = np.eye(x.shape[0]) - D[:, None] * W  # I - D W, the Jacobian of z - T(z)
    # (I - D W) z_dot = D (W_dot z + x_dot)
    return z, anp.linalg.solve(J, D * (W_dot @ z + x_dot))
# [end fixed_point]


# [start solve_qp_active]
def solve_qp_active(active, Q, c, A, b, G, h):
    """The QP with A x = b, G x <= h, given its (strictly) active set.

    The active inequalities act as equalities; the others have mu = 0.
    """
    rows = list(active)
    x, nu = library_eqp(Q, c, anp.concatenate([A, G[rows]]),
                        anp.concatenate([b, h[rows]]))
    m, p = A.shape[0], G.shape[0]
    E = np.zeros((p, len(rows)))  # scatters the active multipliers into mu
    E[rows, np.arange(len(rows))] = 1.0
    return x, nu[:m], E @ nu[m:]
# [end solve_qp_active]


# [start odeint]
# y' = f(y) = tanh(W y + b) from t = 0 to T, with a fixed-step Runge-Kutta method;
# the rules integrate the forward sensitivity (JVP) and the adjoint ODE (VJP).
T, STEPS = 1.0, 200


def rk4(f, state, h, steps):
    """Classical Runge-Kutta on a tuple of arrays; h < 0 runs backwards."""
    def axpy(c, k, s):
        return tuple(si + c * ki for si, ki in zip(s, k))
    for _ in range(steps):
        k1 = f(state)
        k2 = f(axpy(h / 2, k1, state))
        k3 = f(axpy(h / 2, k2, state))
        k4 = f(axpy(h, k3, state))
        state = tuple(s + h / 6 * (a + 2 * b + 2 * c + d)
                      for s, a, b, c, d in zip(state, k1, k2, k3, k4))
    return state


def odeint_final(y0, W, b):
    return rk4(lambda s: (np.tanh(W @ s[0] + b),), (y0,), T / STEPS, STEPS)[0]


@ad.custom_jvp
def odeint(y0, W, b):
    return odeint_final(y0, W, b)


@odeint.defjvp
def odeint_jvp(primals, tangents):
    (y0, W, b), (y0_dot, W_dot, b_dot) = primals, tangents

    def f(state):  # y' = tanh(W y + b), s' = D (W s + W_dot y + b_dot)
        y, s = state
        z = np.tanh(W @ y + b)
        return z, (1 - z**2) * (W @ s + W_dot @ y + b_dot)
    return rk4(f, (y0, y0_dot), T / STEPS, STEPS)  # (y(T), s(T))


@ad.custom_vjp
def odeint_rev(y0, W, b):
    return odeint_final(y0, W, b)


def odeint_fwd(y0, W, b):
    y_T = odeint_final(y0, W, b)
    return y_T, (y_T, W, b)  # y(T) only: y(t) is recomputed backwards


def odeint_bwd(residuals, y_bar):
    y_T, W, b = residuals

    def f(state):  # y, the adjoint lam' = -W^T D lam, and W_bar, b_bar
        y, lam, _, _ = state
        z = np.tanh(W @ y + b)
        D_lam = (1 - z**2) * lam
        return z, -(W.T @ D_lam), -np.outer(D_lam, y), -D_lam
    start = (y_T, y_bar, np.zeros_like(W), np.zeros_like(b))
    _, y0_bar, W_bar, b_bar = rk4(f, start, -T / STEPS, STEPS)  # from T to 0
    return y0_bar, W_bar, b_bar


odeint_rev.defvjp(odeint_fwd, odeint_bwd)
# [end odeint]
