# The Rosetta rules written for Julia's ChainRulesCore, shown as text
# in the book's Rosetta appendix (the book's tests do not run Julia).
# `frule` is the pushforward; `rrule` returns the output and the pullback.
# ChainRules.jl already has rules for Base and LinearAlgebra functions such as
# inv, det, logabsdet and exp; redefining them (as below, to read them side by
# side with the other frameworks) is type piracy: in a package, give your
# function its own name, as done here for the rest.

using ChainRulesCore
using LinearAlgebra

# A (co)tangent may arrive as ZeroTangent() or as a thunk: make it an array.
materialize(t, like) = t isa AbstractZero ? zero(like) : unthunk(t)
sym(X) = (X + X') / 2

# [start ysinx]
ysinx(x::Real, y::Real) = y * sin(x)

function ChainRulesCore.frule((_, ẋ, ẏ), ::typeof(ysinx), x::Real, y::Real)
    s, c = sincos(x)
    return y * s, y * c * ẋ + s * ẏ         # (z, ż)
end

function ChainRulesCore.rrule(::typeof(ysinx), x::Real, y::Real)
    s, c = sincos(x)
    function ysinx_pullback(z̄)
        z̄ = unthunk(z̄)
        # (f̄, x̄, ȳ): the cotangent of the function itself comes first
        return NoTangent(), y * c * z̄, s * z̄
    end
    return y * s, ysinx_pullback
end
# [end ysinx]

# [start solve]
solve(A::AbstractMatrix, b::AbstractVector) = A \ b

function ChainRulesCore.frule((_, Ȧ, ḃ), ::typeof(solve),
                              A::AbstractMatrix, b::AbstractVector)
    F = lu(A)                                 # one factorization ...
    x = F \ b
    # ... reused for the tangent: A ẋ = ḃ - Ȧ x
    ẋ = F \ (materialize(ḃ, b) - materialize(Ȧ, A) * x)
    return x, ẋ
end

function ChainRulesCore.rrule(::typeof(solve),
                              A::AbstractMatrix, b::AbstractVector)
    F = lu(A)
    x = F \ b
    function solve_pullback(x̄)
        w = F' \ materialize(x̄, x)             # Aᵀ w = x̄, same factors
        return NoTangent(), -w * x', w        # (f̄, Ā, b̄)
    end
    return x, solve_pullback
end
# [end solve]

# [start solve_eqp]
# [[sym(Q), Aᵀ], [A, 0]]: only sym(Q) enters the problem
kkt_matrix(Q, A) = [sym(Q) A'; A zeros(size(A, 1), size(A, 1))]

function kkt_solve(Q, c, A, b)                # factorize M once
    n = size(Q, 1)
    F = lu(kkt_matrix(Q, A))
    z = F \ [-c; b]
    return F, z[1:n], z[n+1:end]
end

function solve_eqp(Q, c, A, b)
    _, x, λ = kkt_solve(Q, c, A, b)
    return x, λ
end

function ChainRulesCore.frule((_, Q̇, ċ, Ȧ, ḃ), ::typeof(solve_eqp),
                              Q, c, A, b)
    Q̇, ċ = materialize(Q̇, Q), materialize(ċ, c)
    Ȧ, ḃ = materialize(Ȧ, A), materialize(ḃ, b)
    F, x, λ = kkt_solve(Q, c, A, b)
    r = [sym(Q̇) * x + ċ + transpose(Ȧ) * λ; Ȧ * x - ḃ]
    ż = -(F \ r)                              # M ż = -r
    n = length(x)
    y = (x, λ)
    return y, Tangent{typeof(y)}(ż[1:n], ż[n+1:end])
end

function ChainRulesCore.rrule(::typeof(solve_eqp), Q, c, A, b)
    F, x, λ = kkt_solve(Q, c, A, b)
    n = length(x)
    function solve_eqp_pullback(ȳ)
        ȳ = unthunk(ȳ)
        x̄, λ̄ = materialize(ȳ[1], x), materialize(ȳ[2], λ)
        w = F \ [x̄; λ̄]                        # M w = (x̄, λ̄); M symmetric
        w_x, w_λ = w[1:n], w[n+1:end]
        Q̄ = -(w_x * x' + x * w_x') / 2
        c̄ = -w_x
        Ā = -(λ * w_x' + w_λ * x')
        b̄ = w_λ
        return NoTangent(), Q̄, c̄, Ā, b̄
    end
    return (x, λ), solve_eqp_pullback
end
# [end solve_eqp]

# [start inv]
function ChainRulesCore.frule((_, Ȧ), ::typeof(inv), A::AbstractMatrix)
    Y = inv(A)
    return Y, -Y * materialize(Ȧ, A) * Y      # from A Y = I
end

function ChainRulesCore.rrule(::typeof(inv), A::AbstractMatrix)
    Y = inv(A)
    inv_pullback(Ȳ) = (NoTangent(), -Y' * materialize(Ȳ, Y) * Y')
    return Y, inv_pullback
end
# [end inv]

# [start det]
function ChainRulesCore.frule((_, Ȧ), ::typeof(det), A::AbstractMatrix)
    F = lu(A)
    y = det(F)
    return y, y * tr(F \ materialize(Ȧ, A))  # det(A) tr(A⁻¹ Ȧ)
end

function ChainRulesCore.rrule(::typeof(det), A::AbstractMatrix)
    F = lu(A)
    y = det(F)
    det_pullback(ȳ) = (NoTangent(), unthunk(ȳ) * y * inv(F)')
    return y, det_pullback
end
# [end det]

# [start logabsdet]
function ChainRulesCore.frule((_, Ȧ), ::typeof(logabsdet), A::AbstractMatrix)
    F = lu(A)
    y, s = logabsdet(F)                       # (log|det A|, sign)
    return (y, s), Tangent{typeof((y, s))}(tr(F \ materialize(Ȧ, A)), ZeroTangent())
end

function ChainRulesCore.rrule(::typeof(logabsdet), A::AbstractMatrix)
    F = lu(A)
    y, s = logabsdet(F)
    function logabsdet_pullback(ȳ)
        ȳ_log = materialize(unthunk(ȳ)[1], y)   # the sign has no derivative
        return NoTangent(), ȳ_log * inv(F)'
    end
    return (y, s), logabsdet_pullback
end
# [end logabsdet]

# [start quad_form]
quad_form(x, Q) = dot(x, Q * x) / 2            # Q need not be symmetric

function ChainRulesCore.frule((_, ẋ, Q̇), ::typeof(quad_form), x, Q)
    ẋ, Q̇ = materialize(ẋ, x), materialize(Q̇, Q)
    ẏ = (dot(ẋ, Q * x) + dot(x, Q * ẋ) + dot(x, Q̇ * x)) / 2
    return quad_form(x, Q), ẏ
end

function ChainRulesCore.rrule(::typeof(quad_form), x, Q)
    function quad_form_pullback(ȳ)
        ȳ = unthunk(ȳ)
        return NoTangent(), ȳ * (Q + Q') * x / 2, ȳ * x * x' / 2
    end
    return quad_form(x, Q), quad_form_pullback
end
# [end quad_form]

# [start congruence]
congruence(A, B) = B' * A * B

function ChainRulesCore.frule((_, Ȧ, Ḃ), ::typeof(congruence), A, B)
    Ȧ, Ḃ = materialize(Ȧ, A), materialize(Ḃ, B)
    return congruence(A, B), transpose(Ḃ) * A * B + B' * Ȧ * B + B' * A * Ḃ
end

function ChainRulesCore.rrule(::typeof(congruence), A, B)
    function congruence_pullback(C̄)
        C̄ = unthunk(C̄)
        return NoTangent(), B * C̄ * B', A * B * transpose(C̄) + A' * B * C̄
    end
    return congruence(A, B), congruence_pullback
end
# [end congruence]

# [start lyapunov]
# P with A P + P Aᵀ + Q = 0 (MatrixEquations.jl's lyapc solves the same)
lyapunov(A, Q) = sylvester(A, Matrix(A'), Q)   # LinearAlgebra: A X + X B + C = 0

function ChainRulesCore.frule((_, Ȧ, Q̇), ::typeof(lyapunov), A, Q)
    Ȧ, Q̇ = materialize(Ȧ, A), materialize(Q̇, Q)
    P = lyapunov(A, Q)
    return P, lyapunov(A, Ȧ * P + P * transpose(Ȧ) + Q̇)  # same equation, new Q
end

function ChainRulesCore.rrule(::typeof(lyapunov), A, Q)
    P = lyapunov(A, Q)
    function lyapunov_pullback(P̄)
        λ = lyapunov(Matrix(A'), -materialize(P̄, P))  # Aᵀ λ + λ A = P̄
        return NoTangent(), -(λ * P' + transpose(λ) * P), -λ  # (f̄, Ā, Q̄)
    end
    return P, lyapunov_pullback
end
# [end lyapunov]

# [start sylvester]
# X with A X + X B = C (LinearAlgebra's sylvester(A, B, C) solves A X + X B + C = 0)
sylvester_eq(A, B, C) = sylvester(A, B, -C)

function ChainRulesCore.frule((_, Ȧ, Ḃ, Ċ), ::typeof(sylvester_eq), A, B, C)
    Ȧ, Ḃ, Ċ = materialize(Ȧ, A), materialize(Ḃ, B), materialize(Ċ, C)
    X = sylvester_eq(A, B, C)
    return X, sylvester_eq(A, B, Ċ - Ȧ * X - X * Ḃ)
end

function ChainRulesCore.rrule(::typeof(sylvester_eq), A, B, C)
    X = sylvester_eq(A, B, C)
    function sylvester_pullback(X̄)
        λ = sylvester_eq(Matrix(A'), Matrix(B'), materialize(X̄, X))
        return NoTangent(), -λ * X', -X' * λ, λ  # (f̄, Ā, B̄, C̄)
    end
    return X, sylvester_pullback
end
# [end sylvester]

# [start cholesky]
Φ(X) = tril(X) - Diagonal(X) / 2              # lower triangle, half diagonal
chol(A) = cholesky(Symmetric(sym(A))).L        # the factor of sym(A)

function ChainRulesCore.frule((_, Ȧ), ::typeof(chol), A)
    L = chol(A)
    X = L \ sym(materialize(Ȧ, A)) / L'       # L⁻¹ sym(Ȧ) L⁻ᵀ, triangular solves
    return L, L * Φ(X)
end

function ChainRulesCore.rrule(::typeof(chol), A)
    L = chol(A)
    function chol_pullback(L̄)
        S = Φ(L' * materialize(L̄, L))
        return NoTangent(), sym(L' \ S / L)    # sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)
    end
    return L, chol_pullback
end
# [end cholesky]

# [start eigh]
function eigsym(A)                            # eigenpairs of sym(A), fixed signs
    d, V = eigen(Symmetric(sym(A)))
    big = [argmax(abs.(V[:, j])) for j in axes(V, 2)]
    return d, V .* sign.([V[big[j], j] for j in axes(V, 2)])'
end

gaps(d) = [i == j ? 0.0 : 1 / (d[j] - d[i]) for i in eachindex(d), j in eachindex(d)]

function ChainRulesCore.frule((_, Ȧ), ::typeof(eigsym), A)
    d, V = eigsym(A)
    M = V' * sym(materialize(Ȧ, A)) * V        # assumes distinct eigenvalues
    y = (d, V)
    return y, Tangent{typeof(y)}(diag(M), V * (gaps(d) .* M))
end

function ChainRulesCore.rrule(::typeof(eigsym), A)
    d, V = eigsym(A)
    function eigsym_pullback(ȳ)
        ȳ = unthunk(ȳ)
        d̄, V̄ = materialize(ȳ[1], d), materialize(ȳ[2], V)
        return NoTangent(), sym(V * (Diagonal(d̄) + gaps(d) .* (V' * V̄)) * V')
    end
    return (d, V), eigsym_pullback
end
# [end eigh]

# [start expm]
function expm_frechet(A, E)                   # a block of a 2n × 2n exp
    n = size(A, 1)
    return exp([A E; zero(A) A])[1:n, n+1:end]
end

function ChainRulesCore.frule((_, Ȧ), ::typeof(exp), A::AbstractMatrix)
    return exp(A), expm_frechet(A, materialize(Ȧ, A))
end

function ChainRulesCore.rrule(::typeof(exp), A::AbstractMatrix)
    Y = exp(A)
    # the adjoint is the derivative at Aᵀ
    exp_pullback(Ȳ) = (NoTangent(), expm_frechet(Matrix(A'), materialize(Ȳ, Y)))
    return Y, exp_pullback
end
# [end expm]

# [start frobenius]
frobenius(A) = norm(A)                        # √(Σ A²), for any array

function ChainRulesCore.frule((_, Ȧ), ::typeof(frobenius), A)
    y = frobenius(A)
    return y, dot(A, materialize(Ȧ, A)) / y   # for A ≠ 0
end

function ChainRulesCore.rrule(::typeof(frobenius), A)
    y = frobenius(A)
    frobenius_pullback(ȳ) = (NoTangent(), unthunk(ȳ) * A / y)
    return y, frobenius_pullback
end
# [end frobenius]

# [start spectral]
spectral(A) = opnorm(A, 2)

function ChainRulesCore.frule((_, Ȧ), ::typeof(spectral), A)
    F = svd(A)
    u, v = F.U[:, 1], F.V[:, 1]               # assumes a simple top singular value
    return F.S[1], dot(u, materialize(Ȧ, A) * v)
end

function ChainRulesCore.rrule(::typeof(spectral), A)
    F = svd(A)
    u, v = F.U[:, 1], F.V[:, 1]
    spectral_pullback(ȳ) = (NoTangent(), unthunk(ȳ) * u * v')
    return F.S[1], spectral_pullback
end
# [end spectral]

# [start softplus]
# log(1 + eˣ) = max(x, 0) + log1p(e^{-|x|}): never overflows; scalar, broadcast it
softplus(x::Real) = max(x, zero(x)) + log1p(exp(-abs(x)))
sigmoid(x::Real) = exp(-softplus(-x))          # 1 / (1 + e^{-x}), no overflow

function ChainRulesCore.frule((_, ẋ), ::typeof(softplus), x::Real)
    return softplus(x), sigmoid(x) * ẋ
end

function ChainRulesCore.rrule(::typeof(softplus), x::Real)
    softplus_pullback(ȳ) = (NoTangent(), sigmoid(x) * unthunk(ȳ))
    return softplus(x), softplus_pullback
end
# [end softplus]

# [start logsumexp]
function logsumexp(x::AbstractVector)
    m = maximum(x)
    return m + log(sum(exp.(x .- m)))           # the largest exponent is 0
end

function ChainRulesCore.frule((_, ẋ), ::typeof(logsumexp), x::AbstractVector)
    y = logsumexp(x)
    return y, dot(exp.(x .- y), materialize(ẋ, x))  # softmax(x) ⋅ ẋ
end

function ChainRulesCore.rrule(::typeof(logsumexp), x::AbstractVector)
    y = logsumexp(x)
    logsumexp_pullback(ȳ) = (NoTangent(), exp.(x .- y) .* unthunk(ȳ))
    return y, logsumexp_pullback
end
# [end logsumexp]

# [start cubic_root]
function cubic_root(a::Real)                  # a x³ - x - 2 = 0, Newton
    x = 1.5
    for _ in 1:50
        x -= (a * x^3 - x - 2) / (3a * x^2 - 1)
    end
    return x
end

# implicit function theorem: ẋ = -(∂F/∂a) ȧ / (∂F/∂x)
cubic_root_slope(a, x) = -x^3 / (3a * x^2 - 1)

function ChainRulesCore.frule((_, ȧ), ::typeof(cubic_root), a::Real)
    x = cubic_root(a)
    return x, cubic_root_slope(a, x) * ȧ
end

function ChainRulesCore.rrule(::typeof(cubic_root), a::Real)
    x = cubic_root(a)
    cubic_root_pullback(x̄) = (NoTangent(), cubic_root_slope(a, x) * unthunk(x̄))
    return x, cubic_root_pullback
end
# [end cubic_root]

# [start fixed_point]
function fixed_point(W, x; tol=1e-14)        # z = tanh.(W z + x), by iteration
    z = zero(x)
    for _ in 1:1000
        z_new = tanh.(W * z + x)
        maximum(abs.(z_new - z)) < tol && return z_new
        z = z_new
    end
    error("fixed_point: no convergence; is W a contraction?")
end

function ChainRulesCore.frule((_, Ẇ, ẋ), ::typeof(fixed_point), W, x)
    z = fixed_point(W, x)
    D = 1 .- z .^ 2                           # tanh' at the fixed point
    J = I - D .* W                            # I - D W
    return z, J \ (D .* (materialize(Ẇ, W) * z + materialize(ẋ, x)))
end

function ChainRulesCore.rrule(::typeof(fixed_point), W, x)
    z = fixed_point(W, x)
    D = 1 .- z .^ 2
    F = lu(I - D .* W)                        # factorized once
    function fixed_point_pullback(z̄)
        u = F' \ materialize(z̄, z)            # (I - D W)ᵀ u = z̄
        return NoTangent(), (D .* u) * z', D .* u  # (f̄, W̄, x̄)
    end
    return z, fixed_point_pullback
end
# [end fixed_point]

# [start solve_qp_active]
# The QP with A x = b, G x ≤ h, given its (strictly) active set: the active
# inequalities act as equalities, the others have μ = 0. Differentiated by
# the rules of solve_eqp above; `active` is integer data, with NoTangent().
function solve_qp_active(active, Q, c, A, b, G, h)
    x, ν = solve_eqp(Q, c, [A; G[active, :]], [b; h[active]])
    m, p = size(A, 1), size(G, 1)
    # scatter the active multipliers into μ; E is constant data
    E = @ignore_derivatives [i == a ? 1.0 : 0.0 for i in 1:p, a in active]
    return x, ν[1:m], E * ν[m+1:end]
end
# [end solve_qp_active]

# [start odeint]
# y' = f(y) = tanh.(W y + b) from t = 0 to T, with a fixed-step Runge-Kutta
# method; the rules integrate the forward sensitivity and the adjoint ODE.
const T, STEPS = 1.0, 200

function rk4(f, state, h, steps)              # a tuple of arrays; h < 0: backwards
    axpy(c, k, s) = map((si, ki) -> si + c * ki, s, k)
    for _ in 1:steps
        k1 = f(state)
        k2 = f(axpy(h / 2, k1, state))
        k3 = f(axpy(h / 2, k2, state))
        k4 = f(axpy(h, k3, state))
        state = map((s, a, b, c, d) -> s + h / 6 * (a + 2b + 2c + d),
                    state, k1, k2, k3, k4)
    end
    return state
end

odeint(y0, W, b) = rk4(s -> (tanh.(W * s[1] + b),), (y0,), T / STEPS, STEPS)[1]

function ChainRulesCore.frule((_, ẏ0, Ẇ, ḃ), ::typeof(odeint), y0, W, b)
    ẏ0, Ẇ, ḃ = materialize(ẏ0, y0), materialize(Ẇ, W), materialize(ḃ, b)
    function f((y, s))                        # s' = D (W s + Ẇ y + ḃ)
        z = tanh.(W * y + b)
        return z, (1 .- z .^ 2) .* (W * s + Ẇ * y + ḃ)
    end
    return rk4(f, (y0, ẏ0), T / STEPS, STEPS)  # (y(T), s(T))
end

function ChainRulesCore.rrule(::typeof(odeint), y0, W, b)
    y_T = odeint(y0, W, b)                    # y(T) only: recomputed backwards
    function odeint_pullback(ȳ)
        function f((y, λ, _, _))              # λ' = -Wᵀ D λ, and W̄, b̄
            z = tanh.(W * y + b)
            Dλ = (1 .- z .^ 2) .* λ
            return z, -(W' * Dλ), -Dλ * y', -Dλ
        end
        start = (y_T, materialize(ȳ, y_T), zero(W), zero(b))
        _, ȳ0, W̄, b̄ = rk4(f, start, -T / STEPS, STEPS)  # from T to 0
        return NoTangent(), ȳ0, W̄, b̄
    end
    return y_T, odeint_pullback
end
# [end odeint]
