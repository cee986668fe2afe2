"""numba hot loops, each beside its plain-NumPy twin: the SLAF forward and backward (``slaf``) and
the polynomial products and evaluation (``polynomial``). Nothing here is compiled at import: the
kernels compile on their first call (``_jit``)."""
