"""The polynomial side: an SLNN in evaluation mode is a polynomial of its input.

``monomials`` enumerates monomials (how many, their graded order, the parent table, ranks): the
one source every other module reads. ``algebra`` holds multivariate polynomials
(:class:`Polynomial`, :class:`PolynomialVector`) on the products, evaluation and substitution of
``arithmetic``; ``expansion`` turns a network into one (:func:`expand`, :func:`degree_bound`).
``features`` (polynomial features, standardisation), ``linear`` (what the two solvers share),
``ridge`` and ``lasso`` hold the regression on polynomial features that the paper compares SLNNs
with.
"""

from .algebra import Polynomial, PolynomialVector
from .expansion import MAX_BYTES, ExpansionState, degree_bound, expand, register_expansion
from .monomials import count_monomials

__all__ = ["Polynomial", "PolynomialVector", "count_monomials", "expand", "degree_bound",
           "register_expansion", "ExpansionState", "MAX_BYTES"]
