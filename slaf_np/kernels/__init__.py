"""numba hot loops, each beside its plain-NumPy twin.

=================  ===========================================================================
``slaf``           the fused SLAF forward and backward (twins: ``slaf_numpy``)
``batchnorm``      the batch-normalisation backward in NumPy, shared by BatchNorm and the twins
``polynomial``     graded ranks, products and evaluation of polynomials
``features``       polynomial features
``linear``         the lasso's coordinate descent
``optim``          the Adam update
``pool``           max and average pooling of image planes (twins beside them)
``conv``           the convolution's im2col lowering and its transpose (twins: ``conv_numpy``)
``parallel``       how a kernel uses several threads (one mechanism for all)
``_jit``           the decorator: compiled on first call, cached where a cache can be written
=================  ===========================================================================

Nothing here is compiled, and numba is not imported, at import: a kernel compiles on its first
call.
"""
