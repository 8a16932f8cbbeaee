"""Every user-facing error, with its message pinned.

A good adlib error names what went wrong (the function or rule, the argument,
the shapes) and says what to do instead.
"""
from __future__ import annotations

import numpy as np
import pytest

import adlib as ad
import adlib.numpy as anp


# ------------------------------------------------------------------ grad ----
def test_grad_of_non_scalar_output():
    def vector_valued(x):
        return x * 2.0
    with pytest.raises(TypeError, match=r"grad requires a function with a scalar output, but "
                                        r"vector_valued returned float64\[3\].*anp\.sum.*ad\.jacrev"):
        ad.grad(vector_valued)(np.ones(3))


def test_grad_of_tuple_output():
    with pytest.raises(TypeError, match=r"grad requires a function with a scalar output, but "
                                        r"<lambda> returned tuple"):
        ad.grad(lambda x: (x, x))(1.0)


INT_INPUTS = [
    ("python int", 1, r"int64 scalar"),
    ("int array", np.arange(3), r"int64\[3\]"),
    ("bool array", np.array([True, False]), r"bool\[2\]"),
    ("python bool", True, r"bool scalar"),
]


@pytest.mark.parametrize("value,desc", [(v, d) for _, v, d in INT_INPUTS], ids=[i[0] for i in INT_INPUTS])
@pytest.mark.parametrize("where,call", [
    ("grad", lambda v: ad.grad(lambda x: anp.sum(x * 2.0))(v)),
    ("jvp", lambda v: ad.jvp(lambda x: x * 2.0, (v,), (v,))),
    ("vjp", lambda v: ad.vjp(lambda x: x * 2.0, v)),
    ("jacfwd", lambda v: ad.jacfwd(lambda x: x * 2.0)(v)),
    ("jacrev", lambda v: ad.jacrev(lambda x: x * 2.0)(v)),
], ids=["grad", "jvp", "vjp", "jacfwd", "jacrev"])
def test_integer_and_boolean_inputs_are_refused(where, call, value, desc):
    if np.result_type(value) == np.int32:     # platforms whose default int is 32-bit
        desc = desc.replace("64", "32")
    with pytest.raises(TypeError, match=rf"{where}: argument 0 has dtype \w+ \({desc}\); adlib "
                                        r"differentiates floating-point inputs only\. Pass floats"):
        call(value)


def test_integer_leaf_inside_a_pytree_is_named():
    with pytest.raises(TypeError, match=r"grad: argument 0 \(leaf 1\) has dtype int\d+"):
        ad.grad(lambda p: p["a"] * p["b"])({"a": 1.0, "b": 2})


def test_integer_argument_not_differentiated_is_fine():
    # only argnums are checked: an integer elsewhere is data
    assert ad.grad(lambda x, n: x ** n, argnums=0)(2.0, 3) == pytest.approx(12.0)


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"argnums=2 but f was called with 2 arguments"):
        ad.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


# ------------------------------------------------------------- jvp / vjp ----
def test_jvp_tangent_shape_mismatch():
    with pytest.raises(ValueError, match=r"jvp: the tangent for argument 1 has shape \(2,\) but the "
                                         r"primal has shape \(3,\)"):
        ad.jvp(lambda x, y: x * y, (np.ones(3), np.ones(3)), (np.ones(3), np.ones(2)))


def test_jvp_tangent_shape_mismatch_inside_a_pytree():
    with pytest.raises(ValueError, match=r"jvp: the tangent for argument 0 \(leaf 1\) has shape "
                                         r"\(2, 2\) but the primal has shape \(2,\)"):
        ad.jvp(lambda d: d["a"] * d["b"], ({"a": 1.0, "b": np.ones(2)},),
               ({"a": 1.0, "b": np.ones((2, 2))},))


def test_jvp_tangent_structure_mismatch():
    with pytest.raises(ValueError, match=r"jvp: the tangent for argument 0 has structure \[\*, \*\] "
                                         r"but the primal has structure \(\*, \*\)"):
        ad.jvp(lambda p: p[0] * p[1], ((1.0, 2.0),), ([1.0, 2.0],))


def test_jvp_wrong_number_of_tangents():
    with pytest.raises(ValueError, match=r"jvp: 2 primals but 1 tangents"):
        ad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_jvp_primals_not_a_tuple():
    with pytest.raises(TypeError, match=r"jvp: primals and tangents must be tuples.*jvp\(f, \(x,\), \(v,\)\)"):
        ad.jvp(anp.sin, 1.0, 1.0)


def test_vjp_cotangent_shape_mismatch():
    _, vjp_fn = ad.vjp(lambda x: x[:2] * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"vjp_fn: the cotangent for output leaf 0 has shape \(3,\) "
                                         r"but that output has shape \(2,\)"):
        vjp_fn(np.ones(3))


def test_vjp_cotangent_structure_mismatch():
    _, vjp_fn = ad.vjp(lambda x: (x, 2.0 * x), np.ones(3))
    with pytest.raises(ValueError, match=r"vjp_fn: the cotangent has structure \* but the output of "
                                         r"f has structure \(\*, \*\)"):
        vjp_fn(np.ones(3))


def test_has_aux_needs_a_pair():
    for transform in (ad.grad, ad.value_and_grad, ad.jacfwd, ad.jacrev):
        with pytest.raises(ad.UsageError, match=r"with has_aux=True: f must return a pair "
                                                r"\(output, aux\), got tuple of length 3"):
            transform(lambda x: (anp.sum(x), x, x), has_aux=True)(np.ones(2))
    with pytest.raises(TypeError, match=r"vjp with has_aux=True: f must return a pair "
                                        r"\(output, aux\), got float64\[2\]"):
        ad.vjp(lambda x: x * 2.0, np.ones(2), has_aux=True)


# ------------------------------------------ calling conventions (issue 14.3) ----
def test_jvp_primals_as_an_array_instead_of_a_tuple():
    x = np.ones(3)
    with pytest.raises(ad.UsageError, match=r"jvp: primals and tangents must be tuples, one entry "
                                            r"per argument of f, e\.g\. jvp\(f, \(x,\), \(v,\)\); "
                                            r"got ndarray and ndarray"):
        ad.jvp(anp.sin, x, x)


def test_vjp_primals_as_a_tuple_names_both_conventions():
    x = np.ones(3)
    with pytest.raises(ad.TracingError) as info:
        ad.vjp(anp.sin, (x,))
    msg = str(info.value)
    assert "'sin' received argument 0 as a tuple holding values being differentiated" in msg
    assert "ad.vjp(f, x, y)" in msg and "ad.jvp(f, (x, y), (u, v))" in msg
    assert isinstance(info.value, TypeError)


def test_missing_rules_raise_missing_rule_error_naming_primitive_and_argument():
    half = ad.Primitive(lambda x, y: x * y, "half_ruled")
    ad.defjvp(half, lambda t, ans, x, y: t * y)          # no rule for y in either mode
    ad.defvjp(half, lambda g, ans, x, y: g * y)
    x, y = np.ones(2), np.full(2, 3.0)
    with pytest.raises(ad.MissingRuleError, match=r"no JVP rule for argument 1 of 'half_ruled'.*"
                                                   r"adlib\.defjvp.*reverse mode"):
        ad.jvp(lambda b: half(x, b), (y,), (y,))
    with pytest.raises(ad.MissingRuleError, match=r"no VJP rule for argument 1 of 'half_ruled'.*"
                                                   r"adlib\.defvjp.*forward mode"):
        ad.grad(lambda b: anp.sum(half(x, b)))(y)
    with pytest.raises(NotImplementedError):
        half.vjp_term(1, x, x, (x, y), {})
    assert issubclass(ad.MissingRuleError, ad.AdlibError)
    # the arguments that do have rules still work
    np.testing.assert_allclose(ad.grad(lambda a: anp.sum(half(a, y)))(x), y)


# ----------------------------------------------------- custom rules: output ----
def _xy_fwd(f):
    return lambda x, y: (f(x, y), (x, y))


def test_custom_vjp_pullback_wrong_number_of_cotangents():
    @ad.custom_vjp
    def mul(x, y):
        return x * y

    def mul_bwd(res, g):
        x, y = res
        return g * y, g * x, g          # three for two inputs

    mul.defvjp(_xy_fwd(mul), mul_bwd)
    with pytest.raises(ad.RuleError, match=r"the pullback 'mul_bwd' of 'mul' returned 3 cotangent\(s\), "
                                           r"but 'mul' has 2 differentiable input\(s\) \(arguments 0, 1\)"
                                           r".*None for a zero cotangent"):
        ad.grad(lambda x, y: anp.sum(mul(x, y)))(np.ones(3), np.ones(3))


def test_custom_vjp_pullback_wrong_shape():
    @ad.custom_vjp
    def mul(x, y):
        return x * y

    def mul_bwd(res, g):
        x, y = res
        return g * y, anp.sum(g * x)     # a scalar where y is a vector

    mul.defvjp(_xy_fwd(mul), mul_bwd)
    with pytest.raises(ad.RuleError, match=r"the pullback 'mul_bwd' of 'mul' returned a cotangent of "
                                           r"shape \(\) for argument 1, which has shape \(3,\)"):
        ad.grad(lambda x, y: anp.sum(mul(x, y)), argnums=(0, 1))(np.ones(3), np.ones(3))


def test_custom_vjp_pullback_wrong_shape_names_original_argument_index():
    """With nondiff_argnums, the index is the function's own argument index."""
    def affine_fn(k, a, x):
        return k * a * x
    affine = ad.custom_vjp(affine_fn, nondiff_argnums=(0,))

    def affine_bwd(k, res, g):
        a, x = res
        return k * anp.sum(g * x), k * a * g[:2]      # second one has the wrong shape

    affine.defvjp(lambda k, a, x: (affine(k, a, x), (a, x)), affine_bwd)
    with pytest.raises(ad.RuleError, match=r"'affine_bwd' of 'affine_fn' returned a cotangent of "
                                           r"shape \(2,\) for argument 2, which has shape \(3,\)"):
        ad.grad(lambda a, x: anp.sum(affine(2.0, a, x)), argnums=(0, 1))(1.5, np.ones(3))


def test_custom_vjp_fwd_must_return_a_pair():
    @ad.custom_vjp
    def f(x):
        return anp.sin(x)
    f.defvjp(lambda x: anp.sin(x), lambda res, g: (g,))
    with pytest.raises(ad.RuleError, match=r"the forward rule of 'f' must return a pair "
                                           r"\(primal_out, residuals\)"):
        ad.grad(f)(np.float64(0.3))


def test_custom_jvp_rule_wrong_tangent_shape():
    @ad.custom_jvp
    def f(x):
        return anp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        return anp.sin(primals[0]), anp.sum(tangents[0])

    with pytest.raises(ad.RuleError, match=r"the JVP rule of 'f' returned a tangent of shape \(\) "
                                           r"for output leaf 0 of shape \(3,\)"):
        ad.jvp(f, (np.ones(3),), (np.ones(3),))


def test_custom_jvp_rule_must_return_a_pair():
    @ad.custom_jvp
    def f(x):
        return anp.sin(x)
    f.defjvp(lambda primals, tangents: anp.cos(primals[0]) * tangents[0])
    with pytest.raises(ad.RuleError, match=r"the JVP rule of 'f' must return a pair "
                                           r"\(primal_out, tangent_out\)"):
        ad.jvp(f, (0.3,), (1.0,))


def test_custom_functions_without_rules():
    @ad.custom_jvp
    def no_jvp(x):
        return x

    @ad.custom_vjp
    def no_vjp(x):
        return x
    with pytest.raises(ad.UsageError, match=r"custom_jvp function 'no_jvp' has no rule yet: "
                                        r"register one with @no_jvp\.defjvp"):
        no_jvp(1.0)
    with pytest.raises(ad.UsageError, match=r"custom_vjp function 'no_vjp' has no rule yet"):
        no_vjp(1.0)


def test_jvp_of_a_custom_vjp_function():
    @ad.custom_vjp
    def softplus(x):
        return anp.log1p(anp.exp(x))
    softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g / (1.0 + anp.exp(-x)),))
    msg = (r"cannot push a tangent forward through 'softplus': it is a custom_vjp function, which "
           r"has a reverse-mode rule only\. Use reverse mode \(ad\.vjp, ad\.grad, ad\.jacrev\), or "
           r"define it with ad\.custom_jvp")
    with pytest.raises(ad.TracingError, match=msg):
        ad.jvp(softplus, (0.5,), (1.0,))
    with pytest.raises(ad.TracingError, match=msg):
        ad.jacfwd(softplus)(np.ones(2))
    with pytest.raises(ad.TracingError, match=msg):       # forward over reverse meets it too
        ad.hessian(lambda x: anp.sum(softplus(x)))(np.ones(2))


def test_differentiating_a_nondiff_argument():
    def scale_fn(s, x):
        return s * x
    scale = ad.custom_jvp(scale_fn, nondiff_argnums=(0,))
    scale.defjvp(lambda s, p, t: (scale(s, *p), s * t[0]))
    with pytest.raises(ad.TracingError, match=r"argument 0 of 'scale_fn' is listed in nondiff_argnums "
                                              r"but is being differentiated"):
        ad.grad(lambda s: scale(s, 2.0))(3.0)


# ------------------------------------------------- closures in custom rules ----
CLOSURE_MSG = (r"the {what} of 'h' closes over a value that is being differentiated "
               r"\(float64\[3\]\), so its derivative would be lost\. Pass that value to 'h' as an "
               r"argument instead")


def _custom_vjp_closing_over(z):
    @ad.custom_vjp
    def h(x):
        return x * z

    def h_fwd(x):
        return x * z, None

    def h_bwd(res, g):
        return (g,)
    h.defvjp(h_fwd, h_bwd)
    return h


def _custom_jvp_closing_over(z):
    @ad.custom_jvp
    def h(x):
        return x * z

    @h.defjvp
    def h_jvp(primals, tangents):
        return primals[0] * z, tangents[0] * z
    return h


def test_custom_vjp_forward_rule_closing_over_a_differentiated_value():
    def f(z):
        return anp.sum(_custom_vjp_closing_over(z)(z))
    with pytest.raises(ad.TracingError, match=CLOSURE_MSG.format(what="forward rule")):
        ad.grad(f)(np.full(3, 2.0))


def test_custom_jvp_rule_closing_over_a_differentiated_value_forward_mode():
    def f(z):
        return anp.sum(_custom_jvp_closing_over(z)(z))
    with pytest.raises(ad.TracingError, match=CLOSURE_MSG.format(what="JVP rule")):
        ad.jvp(f, (np.full(3, 2.0),), (np.ones(3),))


def test_custom_jvp_closing_over_a_differentiated_value_reverse_mode():
    def f(z):
        return anp.sum(_custom_jvp_closing_over(z)(z))
    with pytest.raises(ad.TracingError, match=CLOSURE_MSG.format(what="function")):
        ad.grad(f)(np.full(3, 2.0))


# ---------------------------------------------- plain NumPy on traced values ----
PLAIN_NUMPY = [
    ("np.sin", lambda x: np.sin(x), r"np\.sin was applied to a value being differentiated "
                                    r"\(float64\[3\]\).*Use adlib\.numpy\.sin instead"),
    ("np.exp of sum", lambda x: np.exp(anp.sum(x)), r"np\.exp was applied.*\(float64 scalar\).*"
                                                    r"adlib\.numpy\.exp"),
    ("np.sum", lambda x: np.sum(x), r"np\.sum was applied to a value being differentiated.*"
                                    r"Use adlib\.numpy\.sum instead.*custom_jvp / ad\.custom_vjp"),
    ("np.dot", lambda x: np.dot(x, x), r"np\.dot was applied.*adlib\.numpy\.dot"),
    ("np.linalg.inv", lambda x: np.linalg.inv(anp.reshape(x[:1], (1, 1))),
     r"np\.linalg\.inv was applied.*\(float64\[1, 1\]\).*Use adlib\.numpy\.linalg\.inv instead"),
    ("np.asarray", lambda x: np.asarray(x), r"NumPy tried to convert a value being differentiated "
                                            r"\(float64\[3\]\) into a plain array.*adlib\.numpy"),
    ("np.array of list", lambda x: np.array([x[0], x[1]]), r"into a plain array.*adlib\.numpy"),
    ("np.tanh", lambda x: np.tanh(x), r"np\.tanh was applied.*adlib\.numpy\.tanh"),
    ("np.linalg.det", lambda x: np.linalg.det(anp.reshape(x[:1], (1, 1))),
     r"np\.linalg\.det was applied.*adlib\.numpy\.linalg\.det"),
]


@pytest.mark.parametrize("f,msg", [(f, m) for _, f, m in PLAIN_NUMPY], ids=[p[0] for p in PLAIN_NUMPY])
@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_plain_numpy_on_a_traced_value(f, msg, mode):
    x = np.array([0.5, -0.2, 1.1])
    with pytest.raises(ad.TracingError, match=msg):
        if mode == "grad":
            ad.grad(lambda x: anp.sum(f(x)))(x)
        else:
            ad.jvp(f, (x,), (np.ones(3),))


def test_tracing_error_is_a_type_error():
    with pytest.raises(TypeError):
        ad.grad(lambda x: np.sin(x))(1.0)


def test_numpy_operators_with_plain_arrays_still_work():
    """ndarray (op) traced value dispatches to adlib, it is not an error."""
    c = np.array([1.0, 2.0, 3.0])
    g = ad.grad(lambda x: anp.sum(c * x + c / x - c ** x) + c @ x)(np.ones(3))
    # d/dx at x = 1, by hand: c - c/x^2 - c^x log(c) + c
    np.testing.assert_allclose(g, c - c - c * np.log(c) + c)


@pytest.mark.parametrize("f", [lambda x: anp.asarray(x), lambda x: anp.array(x),
                               lambda x: anp.array([x[0], x[1], x[2]])],
                         ids=["asarray", "array", "array of list"])
def test_anp_asarray_never_drops_the_derivative(f):
    x = np.array([0.5, -0.2, 1.1])
    try:
        g = ad.grad(lambda x: anp.sum(f(x) ** 2))(x)
    except ad.TracingError:
        return          # refusing loudly is acceptable
    np.testing.assert_allclose(g, 2 * x)


# ------------------------------------------------ escaping the trace otherwise ----
def test_in_place_assignment():
    def f(x):
        x[0] = 0.0
        return anp.sum(x)
    with pytest.raises(ad.TracingError, match=r"in-place assignment x\[\.\.\.\] = v is not "
                                              r"differentiable.*anp\.where, anp\.concatenate or anp\.stack"):
        ad.grad(f)(np.ones(3))
    with pytest.raises(ad.TracingError, match=r"in-place assignment"):
        ad.jvp(f, (np.ones(3),), (np.ones(3),))


def test_float_of_a_traced_value():
    with pytest.raises(ad.TracingError, match=r"float\(\) of a value being differentiated would drop "
                                              r"its derivative"):
        ad.grad(lambda x: float(x) * x)(1.5)
    with pytest.raises(ad.TracingError, match=r"drop its derivative"):
        ad.jvp(lambda x: float(x[0]), (np.ones(2),), (np.ones(2),))


def test_astype_to_integer_is_a_constant_not_an_error():
    # NumPy's (and autograd's) behaviour: an integer cast carries no derivative
    x = np.array([1.5, 2.5, -0.5])
    g = ad.grad(lambda x: anp.sum(x * x.astype(np.int64)))(x)
    np.testing.assert_array_equal(g, x.astype(np.int64))   # d/dx [x * c] = c
    cast = ad.jvp(lambda x: x.astype(np.int32), (x,), (np.ones(3),))[0]
    assert cast.dtype == np.int32
    with pytest.raises(ad.TracingError, match=r"astype\(complex128\)"):
        ad.grad(lambda x: anp.sum(x.astype(np.complex128).real))(x)


def test_remainder_operator_on_traced_values():
    x = np.array([1.3, -2.6, 5.9])
    # d/dx (x % y) = 1 and d/dy = -floor(x / y), against central differences
    g_x, g_y = ad.grad(lambda x, y: anp.sum(x % y), argnums=(0, 1))(x, 2.0)
    np.testing.assert_allclose(g_x, np.ones(3))
    h = 1e-6
    fd_y = (np.sum(x % (2.0 + h)) - np.sum(x % (2.0 - h))) / (2 * h)
    np.testing.assert_allclose(g_y, fd_y, rtol=1e-6, atol=1e-6)
    x = np.array([1.3, -2.6, 7.9])  # sum of -floor(x / 2) is not zero here
    g_y = ad.grad(lambda y: anp.sum(x % y))(2.0)
    fd_y = (np.sum(x % (2.0 + h)) - np.sum(x % (2.0 - h))) / (2 * h)
    assert g_y == -np.sum(np.floor(x / 2.0)) != 0
    np.testing.assert_allclose(g_y, fd_y, rtol=1e-6)
    np.testing.assert_allclose(ad.grad(lambda y: anp.sum(7.0 % y))(np.array([2.5])),
                               [-np.floor(7.0 / 2.5)])


# --------------------------------------------------------- adlib.numpy misuse ----
def test_matmul_shape_mismatch():
    with pytest.raises(ValueError, match=r"anp\.matmul: shapes \(2, 3\) and \(2,\) do not align"):
        ad.grad(lambda x: anp.sum(x @ np.ones(2)))(np.ones((2, 3)))


def test_linalg_needs_square_matrices():
    with pytest.raises(ValueError, match=r"anp\.linalg\.inv expects a square matrix.*got shape \(2, 3\)"):
        anp.linalg.inv(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"anp\.linalg\.solve: b of shape \(2,\) does not match A of "
                                         r"shape \(3, 3\)"):
        anp.linalg.solve(np.eye(3), np.ones(2))


def test_reduction_axis_type():
    with pytest.raises(TypeError, match=r"anp\.sum: axis must be None, an int or a tuple of ints, got list"):
        anp.sum(np.ones((2, 2)), axis=[0])


def test_unsupported_norm():
    with pytest.raises(ad.UnsupportedError, match=r"anp\.linalg\.norm: ord=3 is not a matrix norm"):
        anp.linalg.norm(np.eye(2), 3)


def test_int_of_traced_value_names_int():
    with pytest.raises(ad.TracingError, match=r"int\(\) of a value being differentiated"):
        ad.grad(lambda x: x * int(x))(1.5)


def test_numpy_function_missing_from_adlib_says_so():
    with pytest.raises(ad.TracingError, match=r"adlib.numpy has no unwrap: write it with adlib.numpy"):
        ad.grad(lambda x: np.unwrap(x)[-1])(np.ones(3))
    with pytest.raises(ad.TracingError, match=r"adlib.numpy has no np.add.accumulate"):
        ad.grad(lambda x: np.add.accumulate(x)[-1])(np.ones(3))


def test_integer_argument_is_named_by_its_position_in_the_call():
    with pytest.raises(TypeError, match=r"grad: argument 1 has dtype int64"):
        ad.grad(lambda x, n: x * n, argnums=1)(2.0, 3)
    with pytest.raises(TypeError, match=r"jacrev: argument 2 has dtype int64"):
        ad.jacrev(lambda x, y, n: x * n, argnums=(0, 2))(np.ones(2), 1.0, np.arange(2))
