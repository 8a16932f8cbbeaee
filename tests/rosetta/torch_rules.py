"""The three Rosetta rules written for PyTorch.

Each rule is one ``torch.autograd.Function`` with ``forward``,
``setup_context``, ``backward`` (the pullback) and ``jvp`` (the
pushforward), so it works with ``loss.backward()``, ``torch.func.vjp``
and ``torch.func.jvp`` alike. Included in the book's Rosetta appendix;
executed and compared with adlib by ``tests/test_rosetta.py`` (CPU
PyTorch, float64 tensors).
"""
import torch

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


# [start eqp]
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
# [end eqp]
