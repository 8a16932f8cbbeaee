# The three Rosetta rules written for Julia's ChainRulesCore, shown as text
# in the book's Rosetta appendix (the book's tests do not run Julia).
# `frule` is the pushforward; `rrule` returns the output and the pullback.

using ChainRulesCore
using LinearAlgebra

# A (co)tangent may arrive as ZeroTangent() or as a thunk: make it an array.
materialize(t, like) = t isa AbstractZero ? zero(like) : unthunk(t)

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

# [start eqp]
sym(X) = (X + X') / 2

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
# [end eqp]
