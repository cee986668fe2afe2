"""Tests for slaf_np.bases: values against numpy.polynomial, derivatives against numpy and central
differences, monomial matrices, dtypes, shapes, registry and error messages."""

from __future__ import annotations

import numpy as np
import numpy.polynomial as npp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np import bases
from tests.strategies import degrees, uniform_arrays

EPS = np.finfo(np.float64).eps

# name -> (vander, der, val, to-monomials, half-width of the natural range tested)
POLY = {
    "power": (npp.polynomial.polyvander, npp.polynomial.polyder, npp.polynomial.polyval,
              lambda c: c, 1.5),
    "chebyshev": (npp.chebyshev.chebvander, npp.chebyshev.chebder, npp.chebyshev.chebval,
                  npp.chebyshev.cheb2poly, 1.5),
    "legendre": (npp.legendre.legvander, npp.legendre.legder, npp.legendre.legval,
                 npp.legendre.leg2poly, 1.5),
    "hermite": (npp.hermite_e.hermevander, npp.hermite_e.hermeder, npp.hermite_e.hermeval,
                npp.hermite_e.herme2poly, 4.0),
}
ALL = list(POLY) + ["fourier"]
N = 64


def _reference(name: str, z: np.ndarray, k: int, m: int = 0) -> np.ndarray:
    """numpy.polynomial's m-th derivative of g_1..g_k at z, shape (N, k)."""
    _, der, val, _, _ = POLY[name]
    E = np.eye(k + 1)[:, 1:]                    # column i-1: the series of g_i
    if m:
        E = der(E, m=m, axis=0)
    if E.shape[0] == 0:                         # derivative of order > k
        return np.zeros((z.size, k))
    return val(z, E).T


def _assert_matches(G: np.ndarray, R: np.ndarray, rtol: float = 1e-12) -> None:
    """Each column equal to the reference to ``rtol`` relative to the column's largest value (a
    pointwise relative test would fail near roots, where both sides are rounding noise)."""
    scale = np.maximum(np.abs(R).max(axis=0), 1.0)
    np.testing.assert_allclose(G, R, rtol=rtol, atol=rtol * scale.max())
    assert np.all(np.abs(G - R) <= rtol * (np.abs(R) + scale))


# ----------------------------------------------------------------------------------- values

@pytest.mark.parametrize("name", list(POLY))
@given(k=degrees, data=st.data())
def test_values_equal_numpy_vander(name, k, data):
    vander, *_, r = POLY[name]
    z = data.draw(uniform_arrays((N,), -r, r))
    G, _ = bases.evaluate(name, z, k)
    _assert_matches(G, vander(z, k)[:, 1:])


@pytest.mark.parametrize("name", list(POLY))
def test_values_at_degree_12_catch_a_wrong_recurrence(name):
    """k = 12 on the whole range: any wrong coefficient in a recurrence shows here."""
    vander, *_, r = POLY[name]
    z = np.linspace(-r, r, 401)
    _assert_matches(bases.evaluate(name, z, 12)[0], vander(z, 12)[:, 1:])


def test_negative_control_a_plausible_bug_is_caught():
    """Legendre with the denominator n instead of n + 1 (an easy slip) must fail the comparison."""
    z, k = np.linspace(-1.5, 1.5, 101), 12
    G = np.empty((z.size, k))
    G[:, 0], prev = z, np.ones_like(z)
    for n in range(1, k):
        G[:, n] = ((2 * n + 1) * z * G[:, n - 1] - n * prev) / n     # should be / (n + 1)
        prev = G[:, n - 1]
    with pytest.raises(AssertionError):
        _assert_matches(G, npp.legendre.legvander(z, k)[:, 1:])


# ------------------------------------------------------------------------------ derivatives

@pytest.mark.parametrize("name", list(POLY))
@given(k=degrees, data=st.data())
def test_derivatives_equal_numpy_der(name, k, data):
    r = POLY[name][-1]
    z = data.draw(uniform_arrays((N,), -r, r))
    _, dG = bases.evaluate(name, z, k)
    _assert_matches(dG, _reference(name, z, k, m=1), rtol=1e-11)


def _central_difference(name: str, z: np.ndarray, k: int, h: float) -> np.ndarray:
    return (bases.evaluate(name, z + h, k)[0] - bases.evaluate(name, z - h, k)[0]) / (2 * h)


H = 1e-5


def _fd_tolerance(k: int, g_scale: np.ndarray, g3_scale: np.ndarray) -> np.ndarray:
    """The central-difference error bound, per column.

    (g(z+h) - g(z-h)) / 2h = g'(z) + h^2/6 g'''(xi) (truncation), and each evaluation of g carries
    a rounding error of at most about 4 k eps max|g| (k recurrence steps of a few ulps each,
    measured against the column's scale because of cancellation near roots), divided by h. With
    h = 1e-5 both terms are ~1e-10 of the column scales, far below the O(|g'|) error of a wrong
    derivative. A factor 2 of slack.
    """
    return 2 * (H**2 / 6 * g3_scale + 4 * k * EPS * g_scale / H)


@pytest.mark.parametrize("name", list(POLY))
@given(k=degrees, data=st.data())
def test_polynomial_derivatives_match_central_differences(name, k, data):
    r = POLY[name][-1]
    z = data.draw(uniform_arrays((N,), -r, r))
    G, dG = bases.evaluate(name, z, k)
    zz = np.concatenate([z - H, z + H])
    g_scale = np.abs(bases.evaluate(name, zz, k)[0]).max(axis=0)
    g3_scale = np.abs(_reference(name, zz, k, m=3)).max(axis=0)
    err = np.abs(_central_difference(name, z, k, H) - dG)
    assert np.all(err <= _fd_tolerance(k, g_scale, g3_scale)), err.max(axis=0)


# ---------------------------------------------------------------------------------- fourier

def _fourier_explicit(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    G, dG = np.empty(x.shape + (k,)), np.empty(x.shape + (k,))
    for i in range(1, k + 1):
        if i % 2:                                # g_{2j-1} = sin((2j-1) pi x / 2)
            w = (2 * ((i + 1) // 2) - 1) * np.pi / 2
            G[..., i - 1], dG[..., i - 1] = np.sin(w * x), w * np.cos(w * x)
        else:                                    # g_{2j} = cos(j pi x)
            w = (i // 2) * np.pi
            G[..., i - 1], dG[..., i - 1] = np.cos(w * x), -w * np.sin(w * x)
    return G, dG


@given(k=degrees, data=st.data())
def test_fourier_equals_explicit_sin_cos(k, data):
    x = data.draw(uniform_arrays((N,), -2.0, 2.0))     # beyond [-1, 1] too: the formula holds
    G, dG = bases.evaluate("fourier", x, k)
    G_ref, dG_ref = _fourier_explicit(x, k)
    np.testing.assert_allclose(G, G_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(dG, dG_ref, rtol=0, atol=1e-13 * k * np.pi)


@given(k=st.integers(1, 16), data=st.data())
def test_fourier_is_a_signed_chebyshev_recurrence_in_sin_half_pi_x(k, data):
    """The substitution the kernels run: g_n(x) = +-T_n(sin(pi x / 2)) by the recurrence of
    its record, and g_n'(x) = h_n'(t) u'(x), equal the angle-addition values and derivatives."""
    x = data.draw(uniform_arrays((N,), -2.0, 2.0))
    coef, sub = bases.kernel_form("fourier", k)
    H, dH = bases.recurrence_terms(sub.u(x), k, sub.recurrence)
    G, dG = bases.evaluate("fourier", x, k)
    np.testing.assert_allclose(H, G, rtol=0, atol=1e-13 * k)
    np.testing.assert_allclose(dH * sub.du(x)[:, None], dG, rtol=0, atol=1e-13 * k ** 2)
    np.testing.assert_array_equal(coef, [sub.recurrence(n) for n in range(k)])
    assert bases.coefficients("fourier", k) is None           # not a recurrence in x itself


def test_fourier_layout_k8_is_four_sines_four_cosines_and_k_odd_adds_a_sine():
    x = np.array([0.0])
    G8, _ = bases.evaluate("fourier", x, 8)
    np.testing.assert_allclose(G8[0], [0, 1, 0, 1, 0, 1, 0, 1], atol=1e-15)  # sin 0 = 0, cos 0 = 1
    G9, _ = bases.evaluate("fourier", np.array([1.0]), 9)
    np.testing.assert_allclose(G9[0, -1], np.sin(9 * np.pi / 2), atol=1e-14)


@given(k=degrees, data=st.data())
def test_fourier_derivatives_match_central_differences(k, data):
    x = data.draw(uniform_arrays((N,), -1.0, 1.0))
    _, dG = bases.evaluate("fourier", x, k)
    w = np.arange(1, k + 1) * np.pi / 2                 # |g_m| <= 1, |g_m'''| <= w_m^3
    err = np.abs(_central_difference("fourier", x, k, H) - dG)
    assert np.all(err <= _fd_tolerance(k, np.ones(k), w**3)), err.max(axis=0)


def test_fourier_is_mirrored_about_one_as_documented():
    x = np.linspace(-1, 1, 41)
    np.testing.assert_allclose(bases.evaluate("fourier", 2 - x, 9)[0],
                               bases.evaluate("fourier", x, 9)[0], atol=1e-13)


# ------------------------------------------------------------------------- monomial matrices

@pytest.mark.parametrize("name", list(POLY))
@given(k=degrees, data=st.data())
def test_monomial_matrix_reproduces_evaluate(name, k, data):
    r = POLY[name][-1]
    z = data.draw(uniform_arrays((N,), -r, r))
    M = bases.monomial_matrix(name, k)
    assert M.shape == (k, k + 1) and M.dtype == np.float64
    G, _ = bases.evaluate(name, z, k)
    values = npp.polynomial.polyval(z, M.T).T
    cancellation = npp.polynomial.polyval(np.abs(z), np.abs(M).T).T   # sum_j |M_ij| |z|^j
    assert np.all(np.abs(values - G) <= 1e-13 * (cancellation + 1))


@pytest.mark.parametrize("name", list(POLY))
def test_monomial_matrix_equals_numpy_conversion_and_is_triangular(name):
    to_poly, k = POLY[name][3], 12
    M = bases.monomial_matrix(name, k)
    rows = [to_poly(np.eye(k + 1)[i])[: i + 1] for i in range(1, k + 1)]
    R = np.array([np.pad(row, (0, k + 1 - row.size)) for row in rows])
    np.testing.assert_allclose(M, R, rtol=0, atol=2 * EPS * np.abs(R).max())
    if name != "legendre":                              # integer coefficients: exact
        np.testing.assert_array_equal(M, R)
    assert np.all(np.triu(M, 2) == 0) and np.all(np.diagonal(M, 1) != 0)   # degree of g_i is i


def test_monomial_matrix_refuses_fourier():
    with pytest.raises(ValueError, match="'fourier' is not a polynomial.*power, chebyshev"):
        bases.monomial_matrix("fourier", 4)


# ---------------------------------------------------------------------------- dtype and shape

@pytest.mark.parametrize("name", ALL)
@given(k=degrees, data=st.data())
def test_float32_stays_float32_and_is_close_to_float64(name, k, data):
    r = POLY[name][-1] if name in POLY else 1.0
    z32 = data.draw(uniform_arrays((N,), -r, r, dtype=np.float32))
    G32, dG32 = bases.evaluate(name, z32, k)
    assert G32.dtype == np.float32 and dG32.dtype == np.float32
    G64, dG64 = bases.evaluate(name, z32.astype(np.float64), k)
    # same float32 inputs, so only the recurrence's float32 rounding differs: about k ulps of the
    # column scale (eps32 = 1.2e-7)
    for a, b in ((G32, G64), (dG32, dG64)):
        scale = np.maximum(np.abs(b).max(axis=0), 1.0)
        assert np.all(np.abs(a - b) <= 4 * k * np.finfo(np.float32).eps * scale)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(), (7,), (5, 3), (2, 3, 4, 5)])
def test_shape_is_z_shape_plus_k_and_elementwise(name, shape):
    k = 5
    z = np.random.default_rng(0).uniform(-1, 1, size=shape)
    G, dG = bases.evaluate(name, z, k)
    assert G.shape == dG.shape == shape + (k,)
    assert G.flags.c_contiguous and dG.flags.c_contiguous
    G_flat, dG_flat = bases.evaluate(name, z.reshape(-1), k)
    np.testing.assert_array_equal(G.reshape(-1, k), G_flat)
    np.testing.assert_array_equal(dG.reshape(-1, k), dG_flat)


# ---------------------------------------------------------------------------- errors, registry

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown basis 'taylor'.*power, chebyshev, legendre, "
                                         "hermite, fourier"):
        bases.evaluate("taylor", np.zeros(3), 2)
    with pytest.raises(ValueError, match="known bases"):
        bases.monomial_matrix("taylor", 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, 2.0, True, "3", None])
def test_bad_k_is_a_value_error_naming_k_and_the_value(k):
    with pytest.raises(ValueError, match=rf"^k \(the number of basis functions\).*got {k!r}$"):
        bases.evaluate("power", np.zeros(3), k)
    with pytest.raises(ValueError, match=r"^k \("):
        bases.monomial_matrix("chebyshev", k)


def test_numpy_integer_k_is_accepted():
    assert bases.evaluate("legendre", np.zeros(3), np.int64(3))[0].shape == (3, 3)


@pytest.mark.parametrize("z", [np.arange(3), [1, 2, 3], np.zeros(3, dtype=complex),
                               np.zeros(2, dtype=bool)])
def test_non_float_input_is_a_type_error(z):
    with pytest.raises(TypeError, match="must be a float array"):
        bases.evaluate("hermite", z, 3)


def test_registry_contents_and_fields():
    assert bases.names()[:5] == ["power", "chebyshev", "legendre", "hermite", "fourier"]
    for name, basis in bases.BASES.items():
        assert basis.name == name and callable(basis.func)
        assert isinstance(basis.domain, str) and isinstance(basis.description, str)
    assert [bases.BASES[n].polynomial for n in ALL] == [True, True, True, True, False]
    assert [bases.BASES[n].recurrence is None for n in ALL] == [False] * 4 + [True]


# (alpha_n, beta_n) for n = 0..4, from the textbook recurrences of numpy.polynomial's families
RECURRENCES = {"power": [(1, 0)] * 5,
               "chebyshev": [(1, 0)] + [(2, 1)] * 4,
               "legendre": [(1, 0), (3 / 2, 1 / 2), (5 / 3, 2 / 3), (7 / 4, 3 / 4), (9 / 5, 4 / 5)],
               "hermite": [(1, n) for n in range(5)]}


@pytest.mark.parametrize("name", list(POLY))
def test_coefficients_are_the_records_recurrence(name):
    """What the kernels read: the rows (alpha_n, beta_n) of the record's recurrence."""
    coef = bases.coefficients(name, 5)
    np.testing.assert_array_equal(coef, RECURRENCES[name])
    assert coef.dtype == np.float64 and not coef.flags.writeable   # shared: read-only
    assert bases.coefficients("fourier", 5) is None


@pytest.mark.parametrize("name", ALL)
def test_docstrings_state_recurrence_and_domain(name):
    doc = bases.BASES[name].func.__doc__
    assert ".. math::" in doc and "Domain" in doc


@pytest.fixture
def scratch_registry():
    before = dict(bases.BASES)
    yield
    bases.BASES.clear()
    bases.BASES.update(before)


def test_register_basis_adds_a_family_used_by_evaluate(scratch_registry):
    def shifted(z, k):                       # g_i(z) = P_i(z) through the registry: a polynomial
        return bases.legendre(z, k)          # basis registered without monomials

    bases.register_basis("shifted", shifted, "[-1, 1]", True, "Legendre, again")
    assert "shifted" in bases.names()
    z = np.linspace(-1, 1, 9)
    np.testing.assert_array_equal(bases.evaluate("shifted", z, 4)[0], bases.legendre(z, 4)[0])
    # no monomials given: interpolation at Chebyshev points recovers them
    np.testing.assert_allclose(bases.monomial_matrix("shifted", 8),
                               bases.monomial_matrix("legendre", 8), atol=1e-11)


def test_register_basis_refuses_duplicates_and_bad_records(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        bases.register_basis("power", bases.power, "R", True, "again")
    bases.register_basis("power", bases.power, "R", True, "again", overwrite=True)
    assert bases.BASES["power"].description == "again"
    with pytest.raises(ValueError, match="non-polynomial"):
        bases.register_basis("f2", bases.fourier, "R", False, "x", recurrence=lambda n: (1, 0))
    with pytest.raises(TypeError, match="callable"):
        bases.register_basis("f3", "not a function", "R", False, "x")
    with pytest.raises(TypeError, match="callable"):
        bases.register_basis("f4", None, "R", False, "x")       # neither func nor recurrence
    sub = bases.BASES["fourier"].substitution
    with pytest.raises(ValueError, match="a substitution needs func"):
        bases.register_basis("f5", None, "R", False, "x", substitution=sub)
    with pytest.raises(ValueError, match="a substitution needs func"):
        bases.register_basis("f6", bases.power, "R", True, "x", recurrence=lambda n: (1, 0),
                             substitution=sub)


def _chebyshev_u(z, k):
    """U_1..U_k from U_n(cos t) = sin((n + 1) t) / sin t (z strictly inside (-1, 1))."""
    t = np.arccos(z)[..., None]
    return np.sin((np.arange(1, k + 1) + 1) * t) / np.sin(t)


def test_one_registration_adds_a_recurrence_basis(scratch_registry):
    """Chebyshev polynomials of the second kind, U_{n+1} = 2 z U_n - U_{n-1} with U_0 = 1 and
    U_1 = 2 z: the record alone gives values, derivatives and monomials."""
    bases.register_basis("chebyshev_u", None, "[-1, 1]", True, "Chebyshev U",
                         recurrence=lambda n: (2, 0 if n == 0 else 1))
    z, k = np.linspace(-0.95, 0.95, 21), 7
    G, dG = bases.evaluate("chebyshev_u", z, k)
    np.testing.assert_allclose(G, _chebyshev_u(z, k), atol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(dG, (_chebyshev_u(z + h, k) - _chebyshev_u(z - h, k)) / (2 * h),
                               atol=1e-6)
    M = bases.monomial_matrix("chebyshev_u", k)
    np.testing.assert_allclose(npp.polynomial.polyval(z, M.T).T, G, atol=1e-12)
    assert M[1].tolist() == [-1, 0, 4, 0, 0, 0, 0, 0]                  # U_2 = 4 z^2 - 1


def test_evaluate_checks_a_registered_function_returns_the_right_shape(scratch_registry):
    bases.register_basis("broken", lambda z, k: (np.zeros(k), np.zeros(k)), "R", False, "bad")
    with pytest.raises(ValueError, match="'broken' returned shapes"):
        bases.evaluate("broken", np.zeros((4, 2)), 3)
