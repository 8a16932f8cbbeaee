"""The Rosetta rules written for JAX.

Included in the book's Rosetta appendix; executed, checked with
``jax.test_util.check_grads`` and compared with adlib by
``tests/test_rosetta.py`` (CPU JAX, float64). A ``jax.custom_jvp`` whose
tangent is computed with jax.numpy also serves reverse mode: JAX
transposes it.
"""
from functools import partial

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

jax.config.update("jax_enable_x64", True)  # float64, as in adlib

# [start ysinx]
@jax.custom_jvp
def ysinx(x, y):
    return y * jnp.sin(x)


@ysinx.defjvp
def ysinx_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    # written with jax.numpy, so JAX can transpose it for reverse mode
    z_dot = y * jnp.cos(x) * x_dot + jnp.sin(x) * y_dot
    return ysinx(x, y), z_dot


@jax.custom_vjp
def ysinx_rev(x, y):
    return y * jnp.sin(x)


def ysinx_fwd(x, y):
    sin_x = jnp.sin(x)
    return y * sin_x, (y * jnp.cos(x), sin_x)  # output, residuals


def ysinx_bwd(residuals, z_bar):
    y_cos_x, sin_x = residuals
    return y_cos_x * z_bar, sin_x * z_bar  # one cotangent per input


ysinx_rev.defvjp(ysinx_fwd, ysinx_bwd)
# [end ysinx]


# [start solve]
@jax.custom_jvp
def solve(A, b):
    return jsl.lu_solve(jsl.lu_factor(A), b)


@solve.defjvp
def solve_jvp(primals, tangents):
    A, b = primals
    A_dot, b_dot = tangents
    lu = jsl.lu_factor(A)  # one factorization ...
    x = jsl.lu_solve(lu, b)
    # ... reused for the tangent: A x_dot = b_dot - A_dot x
    x_dot = jsl.lu_solve(lu, b_dot - A_dot @ x)
    return x, x_dot


@jax.custom_vjp
def solve_rev(A, b):
    return jsl.lu_solve(jsl.lu_factor(A), b)


def solve_fwd(A, b):
    lu = jsl.lu_factor(A)
    x = jsl.lu_solve(lu, b)
    return x, (lu, x)


def solve_bwd(residuals, x_bar):
    lu, x = residuals
    w = jsl.lu_solve(lu, x_bar, trans=1)  # A^T w = x_bar
    return -jnp.outer(w, x), w  # (A_bar, b_bar)


solve_rev.defvjp(solve_fwd, solve_bwd)
# [end solve]


# [start solve_eqp]
def kkt_matrix(Q, A):
    """[[sym(Q), A^T], [A, 0]]: only sym(Q) enters the problem."""
    m = A.shape[0]
    return jnp.block([[0.5 * (Q + Q.T), A.T], [A, jnp.zeros((m, m))]])


def kkt_solve(Q, c, A, b):
    """Factorize the KKT matrix M once; return the factors, x and lam."""
    n = Q.shape[0]
    lu = jsl.lu_factor(kkt_matrix(Q, A))
    z = jsl.lu_solve(lu, jnp.concatenate([-c, b]))
    return lu, z[:n], z[n:]


@jax.custom_jvp
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
    z_dot = -jsl.lu_solve(lu, jnp.concatenate([r_x, r_lam]))
    n = x.shape[0]
    return (x, lam), (z_dot[:n], z_dot[n:])  # M z_dot = -r


@jax.custom_vjp
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
    w = jsl.lu_solve(lu, jnp.concatenate([x_bar, lam_bar]))
    w_x, w_lam = w[:n], w[n:]
    Q_bar = -0.5 * (jnp.outer(w_x, x) + jnp.outer(x, w_x))
    c_bar = -w_x
    A_bar = -(jnp.outer(lam, w_x) + jnp.outer(w_lam, x))
    b_bar = w_lam
    return Q_bar, c_bar, A_bar, b_bar


solve_eqp_rev.defvjp(solve_eqp_fwd, solve_eqp_bwd)
# [end solve_eqp]


# [start inv]
@jax.custom_jvp
def inv(A):
    return jnp.linalg.inv(A)


@inv.defjvp
def inv_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    Y = inv(A)
    return Y, -(Y @ A_dot @ Y)  # from A Y = I: A_dot Y + A Y_dot = 0
# [end inv]


# [start det]
@jax.custom_jvp
def det(A):
    return jnp.linalg.det(A)


@det.defjvp
def det_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    y = det(A)
    # det(A) tr(A^{-1} A_dot), with a solve instead of an inverse
    return y, y * jnp.trace(jnp.linalg.solve(A, A_dot))
# [end det]


# [start logabsdet]
@jax.custom_jvp
def logabsdet(A):
    return jnp.linalg.slogdet(A)[1]  # log|det A|; the sign has no derivative


@logabsdet.defjvp
def logabsdet_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    return logabsdet(A), jnp.trace(jnp.linalg.solve(A, A_dot))
# [end logabsdet]


# [start quad_form]
@jax.custom_jvp
def quad_form(x, Q):
    return 0.5 * x @ Q @ x  # Q need not be symmetric


@quad_form.defjvp
def quad_form_jvp(primals, tangents):
    (x, Q), (x_dot, Q_dot) = primals, tangents
    y_dot = 0.5 * (x_dot @ Q @ x + x @ Q @ x_dot + x @ Q_dot @ x)
    return quad_form(x, Q), y_dot
# [end quad_form]


# [start congruence]
@jax.custom_jvp
def congruence(A, B):
    return B.T @ A @ B


@congruence.defjvp
def congruence_jvp(primals, tangents):
    (A, B), (A_dot, B_dot) = primals, tangents
    C_dot = B_dot.T @ A @ B + B.T @ A_dot @ B + B.T @ A @ B_dot
    return congruence(A, B), C_dot
# [end congruence]


# [start lyapunov]
@jax.custom_jvp
def lyapunov(A, Q):
    """P with A P + P A^T + Q = 0: a Sylvester equation with B = A^T."""
    return jsl.solve_sylvester(A, A.T, -Q)


@lyapunov.defjvp
def lyapunov_jvp(primals, tangents):
    (A, Q), (A_dot, Q_dot) = primals, tangents
    P = lyapunov(A, Q)
    # the same equation, with A_dot P + P A_dot^T + Q_dot as its Q
    return P, lyapunov(A, A_dot @ P + P @ A_dot.T + Q_dot)


@jax.custom_vjp
def lyapunov_rev(A, Q):
    return jsl.solve_sylvester(A, A.T, -Q)


def lyapunov_fwd(A, Q):
    P = jsl.solve_sylvester(A, A.T, -Q)
    return P, (A, P)


def lyapunov_bwd(residuals, P_bar):
    A, P = residuals
    # adjoint equation A^T lam + lam A = P_bar, then minus the transposed dF/d(A, Q)
    lam = jsl.solve_sylvester(A.T, A, P_bar)
    return -(lam @ P.T + lam.T @ P), -lam  # (A_bar, Q_bar)


lyapunov_rev.defvjp(lyapunov_fwd, lyapunov_bwd)
# [end lyapunov]


# [start sylvester]
@jax.custom_jvp
def sylvester(A, B, C):
    """X with A X + X B = C."""
    return jsl.solve_sylvester(A, B, C)


@sylvester.defjvp
def sylvester_jvp(primals, tangents):
    (A, B, C), (A_dot, B_dot, C_dot) = primals, tangents
    X = sylvester(A, B, C)
    return X, sylvester(A, B, C_dot - A_dot @ X - X @ B_dot)


@jax.custom_vjp
def sylvester_rev(A, B, C):
    return jsl.solve_sylvester(A, B, C)


def sylvester_fwd(A, B, C):
    X = jsl.solve_sylvester(A, B, C)
    return X, (A, B, X)


def sylvester_bwd(residuals, X_bar):
    A, B, X = residuals
    lam = jsl.solve_sylvester(A.T, B.T, X_bar)  # A^T lam + lam B^T = X_bar
    return -lam @ X.T, -X.T @ lam, lam  # (A_bar, B_bar, C_bar)


sylvester_rev.defvjp(sylvester_fwd, sylvester_bwd)
# [end sylvester]


# [start cholesky]
def sym(X):
    return 0.5 * (X + X.T)


def phi(X):
    """Strictly lower triangle of X plus half its diagonal."""
    return jnp.tril(X) - 0.5 * jnp.diag(jnp.diag(X))


@jax.custom_jvp
def cholesky(A):
    # the factor of sym(A): the rule is then exact in every direction
    return jnp.linalg.cholesky(sym(A))


@cholesky.defjvp
def cholesky_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    L = cholesky(A)
    # L^{-1} X L^{-T} with triangular solves instead of an inverse
    X = jsl.solve_triangular(L, sym(A_dot), lower=True)
    X = jsl.solve_triangular(L, X.T, lower=True)  # X is symmetric
    return L, L @ phi(X)
# [end cholesky]


# [start eigh]
def fix_signs(V):
    """Flip each eigenvector so that its largest entry is positive."""
    big = jnp.argmax(jnp.abs(V), axis=0)
    return V * jnp.sign(V[big, jnp.arange(V.shape[1])])


@jax.custom_jvp
def eigh(A):
    d, V = jnp.linalg.eigh(sym(A))  # the eigenpairs of sym(A)
    return d, fix_signs(V)


@eigh.defjvp
def eigh_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    d, V = eigh(A)
    M = V.T @ sym(A_dot) @ V
    n = d.shape[0]
    gaps = d[None, :] - d[:, None] + jnp.eye(n)  # d_j - d_i, 1 on the diagonal
    F = (1.0 - jnp.eye(n)) / gaps  # assumes distinct eigenvalues
    return (d, V), (jnp.diag(M), V @ (F * M))
# [end eigh]


# [start expm]
def expm_frechet(A, E):
    """Derivative of expm at A in direction E: a block of a 2n x 2n expm."""
    n = A.shape[0]
    block = jnp.block([[A, E], [jnp.zeros_like(A), A]])
    return jsl.expm(block)[:n, n:]


@jax.custom_jvp
def expm(A):  # forward mode only: JAX cannot transpose expm_frechet in E
    return jsl.expm(A)


@expm.defjvp
def expm_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    return expm(A), expm_frechet(A, A_dot)


@jax.custom_vjp
def expm_rev(A):
    return jsl.expm(A)


def expm_fwd(A):
    return jsl.expm(A), A


def expm_bwd(A, Y_bar):
    return (expm_frechet(A.T, Y_bar),)  # the adjoint is the derivative at A^T


expm_rev.defvjp(expm_fwd, expm_bwd)
# [end expm]


# [start frobenius]
@jax.custom_jvp
def frobenius(A):
    return jnp.sqrt(jnp.sum(A * A))


@frobenius.defjvp
def frobenius_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    y = frobenius(A)
    return y, jnp.sum(A * A_dot) / y  # <A, A_dot> / ||A||, for A != 0
# [end frobenius]


# [start spectral]
@jax.custom_jvp
def spectral(A):
    return jnp.linalg.norm(A, 2)


@spectral.defjvp
def spectral_jvp(primals, tangents):
    (A,), (A_dot,) = primals, tangents
    U, _, Vt = jnp.linalg.svd(A, full_matrices=False)
    u, v = U[:, 0], Vt[0]  # the top singular pair: A v = s u
    return spectral(A), u @ A_dot @ v  # assumes a simple top singular value
# [end spectral]


# [start softplus]
@jax.custom_jvp
def softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): never overflows
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    sigmoid = jnp.exp(-softplus(-x))  # 1 / (1 + e^{-x}), without overflow
    return softplus(x), sigmoid * x_dot
# [end softplus]


# [start logsumexp]
@jax.custom_jvp
def logsumexp(x):
    m = jnp.max(x)
    return m + jnp.log(jnp.sum(jnp.exp(x - m)))  # the largest exponent is 0


@logsumexp.defjvp
def logsumexp_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    y = logsumexp(x)
    return y, jnp.sum(jnp.exp(x - y) * x_dot)  # softmax(x) . x_dot
# [end logsumexp]


# [start cubic_root]
@partial(jax.custom_jvp, nondiff_argnums=(1,))
def cubic_root(a, iterations=50):
    """Root of a x^3 - x - 2 = 0 by Newton's method (a fixed number of steps)."""
    def newton_step(_, x):
        return x - (a * x**3 - x - 2) / (3 * a * x**2 - 1)
    return jax.lax.fori_loop(0, iterations, newton_step, jnp.ones_like(a) * 1.5)


@cubic_root.defjvp
def cubic_root_jvp(iterations, primals, tangents):  # nondiff arguments come first
    (a,), (a_dot,) = primals, tangents
    x = cubic_root(a, iterations)
    # F(x, a) = a x^3 - x - 2: dF/dx x_dot + dF/da a_dot = 0
    return x, -(x**3) * a_dot / (3 * a * x**2 - 1)
# [end cubic_root]


# [start fixed_point]
@partial(jax.custom_jvp, nondiff_argnums=(2,))
def fixed_point(W, x, tol=1e-14):
    """z = tanh(W z + x), by iteration (W must make the map a contraction)."""
    def not_converged(state):
        z, z_prev = state
        return jnp.max(jnp.abs(z - z_prev)) >= tol

    def step(state):
        z, _ = state
        return jnp.tanh(W @ z + x), z

    z0 = jnp.tanh(x)  # one step from z = 0
    return jax.lax.while_loop(not_converged, step, (z0, jnp.zeros_like(x)))[0]


@fixed_point.defjvp
def fixed_point_jvp(tol, primals, tangents):
    (W, x), (W_dot, x_dot) = primals, tangents
    z = fixed_point(W, x, tol)
    D = 1 - z**2  # tanh' at the fixed point, a diagonal
    J = jnp.eye(x.shape[0]) - D[:, None] * W  # I - D W, the Jacobian of z - T(z)
    # (I - D W) z_dot = D (W_dot z + x_dot)
    return z, jnp.linalg.solve(J, D * (W_dot @ z + x_dot))
# [end fixed_point]


# [start solve_qp_active]
def solve_qp_active(active, Q, c, A, b, G, h):
    """The QP with A x = b, G x <= h, given its (strictly) active set.

    active: a tuple of row indices, static data (found by any QP solver).
    The active inequalities act as equalities; the others have mu = 0.
    """
    rows = jnp.asarray(active, dtype=int)
    x, nu = solve_eqp(Q, c, jnp.concatenate([A, G[rows]]),
                      jnp.concatenate([b, h[rows]]))
    m = A.shape[0]
    mu = jnp.zeros(G.shape[0]).at[rows].set(nu[m:])  # scatter into mu
    return x, nu[:m], mu
# [end solve_qp_active]


# [start odeint]
# y' = f(y) = tanh(W y + b) from t = 0 to T, with a fixed-step Runge-Kutta method;
# the rules integrate the forward sensitivity (JVP) and the adjoint ODE (VJP).
T, STEPS = 1.0, 200


def rk4(f, state, h, steps):
    """Classical Runge-Kutta on a tuple of arrays; h < 0 runs backwards."""
    def axpy(c, k, s):
        return tuple(si + c * ki for si, ki in zip(s, k))

    def step(_, s):
        k1 = f(s)
        k2 = f(axpy(h / 2, k1, s))
        k3 = f(axpy(h / 2, k2, s))
        k4 = f(axpy(h, k3, s))
        return tuple(si + h / 6 * (a + 2 * b + 2 * c + d)
                     for si, a, b, c, d in zip(s, k1, k2, k3, k4))
    return jax.lax.fori_loop(0, steps, step, state)


def odeint_final(y0, W, b):
    return rk4(lambda s: (jnp.tanh(W @ s[0] + b),), (y0,), T / STEPS, STEPS)[0]


@jax.custom_jvp
def odeint(y0, W, b):  # forward mode (JAX does not transpose this JVP)
    return odeint_final(y0, W, b)


@odeint.defjvp
def odeint_jvp(primals, tangents):
    (y0, W, b), (y0_dot, W_dot, b_dot) = primals, tangents

    def f(state):  # y' = tanh(W y + b), s' = D (W s + W_dot y + b_dot)
        y, s = state
        z = jnp.tanh(W @ y + b)
        return z, (1 - z**2) * (W @ s + W_dot @ y + b_dot)
    return rk4(f, (y0, y0_dot), T / STEPS, STEPS)  # (y(T), s(T))


@jax.custom_vjp
def odeint_rev(y0, W, b):
    return odeint_final(y0, W, b)


def odeint_fwd(y0, W, b):
    y_T = odeint_final(y0, W, b)
    return y_T, (y_T, W, b)  # y(T) only: y(t) is recomputed backwards


def odeint_bwd(residuals, y_bar):
    y_T, W, b = residuals

    def f(state):  # y, the adjoint lam' = -W^T D lam, and W_bar, b_bar
        y, lam, _, _ = state
        z = jnp.tanh(W @ y + b)
        D_lam = (1 - z**2) * lam
        return z, -(W.T @ D_lam), -jnp.outer(D_lam, y), -D_lam
    start = (y_T, y_bar, jnp.zeros_like(W), jnp.zeros_like(b))
    _, y0_bar, W_bar, b_bar = rk4(f, start, -T / STEPS, STEPS)  # from T to 0
    return y0_bar, W_bar, b_bar


odeint_rev.defvjp(odeint_fwd, odeint_bwd)
# [end odeint]
