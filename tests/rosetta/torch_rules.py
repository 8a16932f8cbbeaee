"""The Rosetta rules written for PyTorch.

Each rule is one ``torch.autograd.Function`` with ``forward``,
``setup_context``, ``backward`` (the pullback) and ``jvp`` (the
pushforward), so it works with ``loss.backward()``, ``torch.func.vjp``
and ``torch.func.jvp`` alike. Included in the book's Rosetta appendix;
executed and compared with adlib by ``tests/test_rosetta.py`` (CPU
PyTorch, float64 tensors).
"""
import torch
from torch.autograd.function import once_differentiable

# [start ysinx]
class YSinX(torch.autograd.Function):
    @staticmethod
    def forward(x, y):
        return y * torch.sin(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y = inputs
        ctx.save_for_backward(x, y)  # residuals of the pullback
        ctx.save_for_forward(x, y)  # ... and of the pushforward

    @staticmethod
    def backward(ctx, z_bar):  # z_bar is PyTorch's grad_output
        x, y = ctx.saved_tensors
        return y * torch.cos(x) * z_bar, torch.sin(x) * z_bar

    @staticmethod
    def jvp(ctx, x_dot, y_dot):
        x, y = ctx.saved_tensors
        return y * torch.cos(x) * x_dot + torch.sin(x) * y_dot


def ysinx(x, y):
    return YSinX.apply(x, y)
# [end ysinx]


# [start solve]
def lu_solve(LU, pivots, v, adjoint=False):
    """Solve with stored LU factors for a vector v (A^T if adjoint)."""
    V = torch.linalg.lu_solve(LU, pivots, v.unsqueeze(-1), adjoint=adjoint)
    return V.squeeze(-1)


class Solve(torch.autograd.Function):
    @staticmethod
    def forward(A, b):
        LU, pivots = torch.linalg.lu_factor(A)  # one factorization ...
        # ... returned as extra outputs, so that the rules can reuse it
        return lu_solve(LU, pivots, b), LU, pivots

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, LU, pivots = output
        ctx.mark_non_differentiable(LU, pivots)
        ctx.save_for_backward(LU, pivots, x)
        ctx.save_for_forward(LU, pivots, x)

    @staticmethod
    @once_differentiable  # LU does not carry A's derivative: refuse a 2nd order
    def backward(ctx, x_bar, _LU_bar, _pivots_bar):
        LU, pivots, x = ctx.saved_tensors
        w = lu_solve(LU, pivots, x_bar, adjoint=True)  # A^T w = x_bar
        return -torch.outer(w, x), w  # (A_bar, b_bar)

    @staticmethod
    def jvp(ctx, A_dot, b_dot):
        LU, pivots, x = ctx.saved_tensors
        x_dot = lu_solve(LU, pivots, b_dot - A_dot @ x)
        return x_dot, None, None  # no tangents for the factors


def solve(A, b):
    return Solve.apply(A, b)[0]
# [end solve]


# [start solve_eqp]
def kkt_matrix(Q, A):
    """[[sym(Q), A^T], [A, 0]]: only sym(Q) enters the problem."""
    m = A.shape[0]
    top = torch.cat([0.5 * (Q + Q.T), A.T], dim=1)
    bottom = torch.cat([A, A.new_zeros(m, m)], dim=1)
    return torch.cat([top, bottom], dim=0)


class SolveEQP(torch.autograd.Function):
    @staticmethod
    def forward(Q, c, A, b):
        n = Q.shape[0]
        LU, pivots = torch.linalg.lu_factor(kkt_matrix(Q, A))  # once
        z = lu_solve(LU, pivots, torch.cat([-c, b]))
        return z[:n], z[n:], LU, pivots

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, lam, LU, pivots = output
        ctx.mark_non_differentiable(LU, pivots)
        ctx.save_for_backward(LU, pivots, x, lam)
        ctx.save_for_forward(LU, pivots, x, lam)

    @staticmethod
    @once_differentiable  # the factors do not carry Q's and A's derivatives
    def backward(ctx, x_bar, lam_bar, _LU_bar, _pivots_bar):
        LU, pivots, x, lam = ctx.saved_tensors
        n = x.shape[0]
        # M is symmetric: M w = (x_bar, lam_bar), with the same factors
        w = lu_solve(LU, pivots, torch.cat([x_bar, lam_bar]))
        w_x, w_lam = w[:n], w[n:]
        Q_bar = -0.5 * (torch.outer(w_x, x) + torch.outer(x, w_x))
        c_bar = -w_x
        A_bar = -(torch.outer(lam, w_x) + torch.outer(w_lam, x))
        b_bar = w_lam
        return Q_bar, c_bar, A_bar, b_bar

    @staticmethod
    def jvp(ctx, Q_dot, c_dot, A_dot, b_dot):
        LU, pivots, x, lam = ctx.saved_tensors
        n = x.shape[0]
        r_x = 0.5 * (Q_dot + Q_dot.T) @ x + c_dot + A_dot.T @ lam
        r_lam = A_dot @ x - b_dot
        z_dot = -lu_solve(LU, pivots, torch.cat([r_x, r_lam]))
        return z_dot[:n], z_dot[n:], None, None  # M z_dot = -r


def solve_eqp(Q, c, A, b):
    x, lam, _, _ = SolveEQP.apply(Q, c, A, b)
    return x, lam
# [end solve_eqp]


# [start inv]
class Inv(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.linalg.inv(A)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)  # Y, the output, is all the rules need
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, Y_bar):
        (Y,) = ctx.saved_tensors
        return -(Y.mT @ Y_bar @ Y.mT)

    @staticmethod
    def jvp(ctx, A_dot):
        (Y,) = ctx.saved_tensors
        return -(Y @ A_dot @ Y)  # from A Y = I: A_dot Y + A Y_dot = 0


def inv(A):
    return Inv.apply(A)
# [end inv]


# [start det]
class Det(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.linalg.det(A)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, y_bar):
        A, y = ctx.saved_tensors
        return (y_bar * y) * torch.linalg.inv(A).mT

    @staticmethod
    def jvp(ctx, A_dot):
        A, y = ctx.saved_tensors
        # det(A) tr(A^{-1} A_dot), with a solve instead of an inverse
        return y * torch.linalg.solve(A, A_dot).trace()


def det(A):
    return Det.apply(A)
# [end det]


# [start logabsdet]
class LogAbsDet(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.linalg.slogdet(A)[1]  # log|det A|; the sign has no derivative

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, y_bar):
        (A,) = ctx.saved_tensors
        return y_bar * torch.linalg.inv(A).mT

    @staticmethod
    def jvp(ctx, A_dot):
        (A,) = ctx.saved_tensors
        return torch.linalg.solve(A, A_dot).trace()


def logabsdet(A):
    return LogAbsDet.apply(A)
# [end logabsdet]


# [start quad_form]
class QuadForm(torch.autograd.Function):
    @staticmethod
    def forward(x, Q):
        return 0.5 * x @ Q @ x  # Q need not be symmetric

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, y_bar):
        x, Q = ctx.saved_tensors
        return 0.5 * y_bar * (Q + Q.T) @ x, 0.5 * y_bar * torch.outer(x, x)

    @staticmethod
    def jvp(ctx, x_dot, Q_dot):
        x, Q = ctx.saved_tensors
        return 0.5 * (x_dot @ Q @ x + x @ Q @ x_dot + x @ Q_dot @ x)


def quad_form(x, Q):
    return QuadForm.apply(x, Q)
# [end quad_form]


# [start congruence]
class Congruence(torch.autograd.Function):
    @staticmethod
    def forward(A, B):
        return B.T @ A @ B

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)  # A and B, not the product A B
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, C_bar):
        A, B = ctx.saved_tensors
        return B @ C_bar @ B.T, A @ B @ C_bar.T + A.T @ B @ C_bar

    @staticmethod
    def jvp(ctx, A_dot, B_dot):
        A, B = ctx.saved_tensors
        return B_dot.T @ A @ B + B.T @ A_dot @ B + B.T @ A @ B_dot


def congruence(A, B):
    return Congruence.apply(A, B)
# [end congruence]


# [start lyapunov]
def kron_sum_lu(A, B):
    """LU factors of the matrix of X -> A X + X B, acting on X.reshape(-1)."""
    I_A = torch.eye(A.shape[0], dtype=A.dtype)
    I_B = torch.eye(B.shape[0], dtype=B.dtype)
    B_T = B.T.contiguous()  # torch.kron under torch.func rejects a transposed view
    return torch.linalg.lu_factor(torch.kron(A, I_B) + torch.kron(I_A, B_T))


def kron_solve(LU, pivots, C, adjoint=False):
    """X with A X + X B = C (A^T X + X B^T = C if adjoint), from kron_sum_lu."""
    return lu_solve(LU, pivots, C.reshape(-1), adjoint=adjoint).reshape(C.shape)


class Lyapunov(torch.autograd.Function):
    """P with A P + P A^T + Q = 0 (small n: the Kronecker form has n^2 rows)."""

    @staticmethod
    def forward(A, Q):
        LU, pivots = kron_sum_lu(A, A.T)  # factorized once, reused by both rules
        return kron_solve(LU, pivots, -Q), LU, pivots

    @staticmethod
    def setup_context(ctx, inputs, output):
        P, LU, pivots = output
        ctx.mark_non_differentiable(LU, pivots)
        ctx.save_for_backward(P, LU, pivots)
        ctx.save_for_forward(P, LU, pivots)

    @staticmethod
    @once_differentiable
    def backward(ctx, P_bar, _LU_bar, _pivots_bar):
        P, LU, pivots = ctx.saved_tensors
        lam = kron_solve(LU, pivots, P_bar, adjoint=True)  # A^T lam + lam A = P_bar
        return -(lam @ P.T + lam.T @ P), -lam  # (A_bar, Q_bar)

    @staticmethod
    def jvp(ctx, A_dot, Q_dot):
        P, LU, pivots = ctx.saved_tensors
        P_dot = kron_solve(LU, pivots, -(A_dot @ P + P @ A_dot.T + Q_dot))
        return P_dot, None, None


def lyapunov(A, Q):
    return Lyapunov.apply(A, Q)[0]
# [end lyapunov]


# [start sylvester]
class Sylvester(torch.autograd.Function):
    """X with A X + X B = C, with kron_sum_lu and kron_solve (see lyapunov)."""

    @staticmethod
    def forward(A, B, C):
        LU, pivots = kron_sum_lu(A, B)
        return kron_solve(LU, pivots, C), LU, pivots

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, LU, pivots = output
        ctx.mark_non_differentiable(LU, pivots)
        ctx.save_for_backward(X, LU, pivots)
        ctx.save_for_forward(X, LU, pivots)

    @staticmethod
    @once_differentiable
    def backward(ctx, X_bar, _LU_bar, _pivots_bar):
        X, LU, pivots = ctx.saved_tensors
        lam = kron_solve(LU, pivots, X_bar, adjoint=True)  # A^T lam + lam B^T = X_bar
        return -lam @ X.T, -X.T @ lam, lam  # (A_bar, B_bar, C_bar)

    @staticmethod
    def jvp(ctx, A_dot, B_dot, C_dot):
        X, LU, pivots = ctx.saved_tensors
        X_dot = kron_solve(LU, pivots, C_dot - A_dot @ X - X @ B_dot)
        return X_dot, None, None


def sylvester(A, B, C):
    return Sylvester.apply(A, B, C)[0]
# [end sylvester]


# [start cholesky]
def sym(X):
    return 0.5 * (X + X.mT)


def phi(X):
    """Strictly lower triangle of X plus half its diagonal."""
    return torch.tril(X) - 0.5 * torch.diag_embed(torch.diagonal(X))


class Cholesky(torch.autograd.Function):
    @staticmethod
    def forward(A):
        # the factor of sym(A): the rule is then exact in every direction
        return torch.linalg.cholesky(sym(A))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, L_bar):
        (L,) = ctx.saved_tensors
        # sym(L^{-T} phi(L^T L_bar) L^{-1}), by two triangular solves
        Y = torch.linalg.solve_triangular(L.mT, phi(L.mT @ L_bar), upper=True)
        return sym(torch.linalg.solve_triangular(L, Y, upper=False, left=False))

    @staticmethod
    def jvp(ctx, A_dot):
        (L,) = ctx.saved_tensors
        X = torch.linalg.solve_triangular(L, sym(A_dot), upper=False)
        X = torch.linalg.solve_triangular(L, X.mT, upper=False)  # L^{-1} A_dot L^{-T}
        return L @ phi(X)


def cholesky(A):
    return Cholesky.apply(A)
# [end cholesky]


# [start eigh]
def fix_signs(V):
    """Flip each eigenvector so that its largest entry is positive."""
    big = torch.argmax(V.abs(), dim=0)
    return V * torch.sign(V[big, torch.arange(V.shape[1])])


def eigh_gaps(d):
    n = d.shape[0]
    eye = torch.eye(n, dtype=d.dtype)
    return (1.0 - eye) / (d[None, :] - d[:, None] + eye)  # 1/(d_j - d_i), 0 if i = j


class Eigh(torch.autograd.Function):
    @staticmethod
    def forward(A):
        d, V = torch.linalg.eigh(sym(A))  # the eigenpairs of sym(A)
        return d, fix_signs(V)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*output)
        ctx.save_for_forward(*output)

    @staticmethod
    def backward(ctx, d_bar, V_bar):  # zeros, not None, for an unused output
        d, V = ctx.saved_tensors
        inner = torch.diag_embed(d_bar) + eigh_gaps(d) * (V.T @ V_bar)
        return sym(V @ inner @ V.T)

    @staticmethod
    def jvp(ctx, A_dot):
        d, V = ctx.saved_tensors
        M = V.T @ sym(A_dot) @ V  # assumes distinct eigenvalues
        return torch.diagonal(M), V @ (eigh_gaps(d) * M)


def eigh(A):
    return Eigh.apply(A)
# [end eigh]


# [start expm]
def expm_frechet(A, E):
    """Derivative of expm at A in direction E: a block of a 2n x 2n expm."""
    n = A.shape[0]
    block = torch.cat([torch.cat([A, E], 1), torch.cat([torch.zeros_like(A), A], 1)])
    return torch.linalg.matrix_exp(block)[:n, n:]


class Expm(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.linalg.matrix_exp(A)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, Y_bar):
        (A,) = ctx.saved_tensors
        return expm_frechet(A.T, Y_bar)  # the adjoint is the derivative at A^T

    @staticmethod
    def jvp(ctx, A_dot):
        (A,) = ctx.saved_tensors
        return expm_frechet(A, A_dot)


def expm(A):
    return Expm.apply(A)
# [end expm]


# [start frobenius]
class Frobenius(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.sqrt(torch.sum(A * A))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, y_bar):
        A, y = ctx.saved_tensors
        return y_bar * A / y  # for A != 0

    @staticmethod
    def jvp(ctx, A_dot):
        A, y = ctx.saved_tensors
        return torch.sum(A * A_dot) / y


def frobenius(A):
    return Frobenius.apply(A)
# [end frobenius]


# [start spectral]
def top_singular_pair(A):
    U, _, Vh = torch.linalg.svd(A, full_matrices=False)
    return U[:, 0], Vh[0]  # A v = s u; u v^T does not depend on the signs


class Spectral(torch.autograd.Function):
    @staticmethod
    def forward(A):
        return torch.linalg.matrix_norm(A, ord=2)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, y_bar):
        (A,) = ctx.saved_tensors
        u, v = top_singular_pair(A)  # assumes a simple top singular value
        return y_bar * torch.outer(u, v)

    @staticmethod
    def jvp(ctx, A_dot):
        (A,) = ctx.saved_tensors
        u, v = top_singular_pair(A)
        return u @ A_dot @ v


def spectral(A):
    return Spectral.apply(A)
# [end spectral]


# [start softplus]
class Softplus(torch.autograd.Function):
    @staticmethod
    def forward(x):
        # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): never overflows
        return torch.clamp(x, min=0.0) + torch.log1p(torch.exp(-x.abs()))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, y_bar):
        (x,) = ctx.saved_tensors
        return torch.sigmoid(x) * y_bar  # torch.sigmoid does not overflow

    @staticmethod
    def jvp(ctx, x_dot):
        (x,) = ctx.saved_tensors
        return torch.sigmoid(x) * x_dot


def softplus(x):
    return Softplus.apply(x)
# [end softplus]


# [start logsumexp]
class LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(x):
        m = x.max()
        return m + torch.log(torch.sum(torch.exp(x - m)))  # the largest exponent is 0

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, y_bar):
        x, y = ctx.saved_tensors
        return torch.exp(x - y) * y_bar  # softmax(x) y_bar

    @staticmethod
    def jvp(ctx, x_dot):
        x, y = ctx.saved_tensors
        return torch.sum(torch.exp(x - y) * x_dot)


def logsumexp(x):
    return LogSumExp.apply(x)
# [end logsumexp]


# [start cubic_root]
class CubicRoot(torch.autograd.Function):
    """Root of a x^3 - x - 2 = 0, differentiated by the implicit function theorem."""

    @staticmethod
    def forward(a):
        x = torch.full_like(a, 1.5)
        for _ in range(50):  # Newton's method; forward is never differentiated
            x = x - (a * x**3 - x - 2) / (3 * a * x**2 - 1)
        return x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, x_bar):
        a, x = ctx.saved_tensors
        # F(x, a) = a x^3 - x - 2: dx/da = -(dF/da) / (dF/dx)
        return -(x**3) / (3 * a * x**2 - 1) * x_bar

    @staticmethod
    def jvp(ctx, a_dot):
        a, x = ctx.saved_tensors
        return -(x**3) / (3 * a * x**2 - 1) * a_dot


def cubic_root(a):
    return CubicRoot.apply(a)
# [end cubic_root]


# [start fixed_point]
class FixedPoint(torch.autograd.Function):
    """z = tanh(W z + x), by iteration (W must make the map a contraction)."""

    @staticmethod
    def forward(W, x):
        z = torch.zeros_like(x)
        for _ in range(1000):
            z_new = torch.tanh(W @ z + x)
            if torch.max(torch.abs(z_new - z)) < 1e-14:
                break
            z = z_new
        return z_new

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)  # W and z, not the iterates
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, z_bar):
        W, z = ctx.saved_tensors
        D = 1 - z**2  # tanh' at the fixed point, a diagonal
        J = torch.eye(z.shape[0], dtype=z.dtype) - D[:, None] * W  # I - D W
        u = torch.linalg.solve(J.T, z_bar)  # the adjoint equation
        return torch.outer(D * u, z), D * u  # (W_bar, x_bar)

    @staticmethod
    def jvp(ctx, W_dot, x_dot):
        W, z = ctx.saved_tensors
        D = 1 - z**2
        J = torch.eye(z.shape[0], dtype=z.dtype) - D[:, None] * W
        return torch.linalg.solve(J, D * (W_dot @ z + x_dot))


def fixed_point(W, x):
    return FixedPoint.apply(W, x)
# [end fixed_point]


# [start solve_qp_active]
def solve_qp_active(active, Q, c, A, b, G, h):
    """The QP with A x = b, G x <= h, given its (strictly) active set.

    active: a tuple of row indices (found by any QP solver), not a tensor.
    The active inequalities act as equalities; the others have mu = 0.
    """
    rows = list(active)
    x, nu = solve_eqp(Q, c, torch.cat([A, G[rows]]), torch.cat([b, h[rows]]))
    m, p = A.shape[0], G.shape[0]
    E = G.new_zeros(p, len(rows))  # scatters the active multipliers into mu
    E[rows, range(len(rows))] = 1.0
    return x, nu[:m], E @ nu[m:]
# [end solve_qp_active]


# [start odeint]
# y' = f(y) = tanh(W y + b) from t = 0 to T, with a fixed-step Runge-Kutta method;
# the rules integrate the forward sensitivity (jvp) and the adjoint ODE (backward).
T, STEPS = 1.0, 200


def rk4(f, state, h, steps):
    """Classical Runge-Kutta on a tuple of tensors; h < 0 runs backwards."""
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


class ODEInt(torch.autograd.Function):
    @staticmethod
    def forward(y0, W, b):  # runs without recording: no graph of the steps
        return rk4(lambda s: (torch.tanh(W @ s[0] + b),), (y0,), T / STEPS, STEPS)[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        y0, W, b = inputs
        ctx.save_for_backward(output, W, b)  # y(T) only: recomputed backwards
        ctx.save_for_forward(y0, W, b)

    @staticmethod
    @once_differentiable  # a second order would differentiate 200 backward steps
    def backward(ctx, y_bar):
        y_T, W, b = ctx.saved_tensors

        def f(state):  # y, the adjoint lam' = -W^T D lam, and W_bar, b_bar
            y, lam, _, _ = state
            z = torch.tanh(W @ y + b)
            D_lam = (1 - z**2) * lam
            return z, -(W.T @ D_lam), -torch.outer(D_lam, y), -D_lam
        start = (y_T, y_bar, torch.zeros_like(W), torch.zeros_like(b))
        _, y0_bar, W_bar, b_bar = rk4(f, start, -T / STEPS, STEPS)  # from T to 0
        return y0_bar, W_bar, b_bar

    @staticmethod
    def jvp(ctx, y0_dot, W_dot, b_dot):
        y0, W, b = ctx.saved_tensors

        def f(state):  # y' = tanh(W y + b), s' = D (W s + W_dot y + b_dot)
            y, s = state
            z = torch.tanh(W @ y + b)
            return z, (1 - z**2) * (W @ s + W_dot @ y + b_dot)
        return rk4(f, (y0, y0_dot), T / STEPS, STEPS)[1]  # s(T)


def odeint(y0, W, b):
    return ODEInt.apply(y0, W, b)
# [end odeint]
