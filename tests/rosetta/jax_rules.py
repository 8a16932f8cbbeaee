"""The three Rosetta rules written for JAX.

Included in the book's Rosetta appendix; executed and compared with adlib
by ``tests/test_rosetta.py`` (CPU JAX, float64).
"""
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


# [start eqp]
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
# [end eqp]
