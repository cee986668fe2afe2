"""The polynomial side: an SLNN in evaluation mode is a polynomial of its input.

``algebra`` holds multivariate polynomials (:class:`Polynomial`, :class:`PolynomialVector`),
``expansion`` turns a network into one (:func:`expand`, :func:`degree_bound`), ``features`` and
``linear`` hold the regression on polynomial features that the paper compares SLNNs with.
"""

from .algebra import Polynomial, PolynomialVector, count_monomials
from .expansion import MAX_BYTES, ExpansionState, degree_bound, expand, register_expansion

__all__ = ["Polynomial", "PolynomialVector", "count_monomials", "expand", "degree_bound",
           "register_expansion", "ExpansionState", "MAX_BYTES"]
