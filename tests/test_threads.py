"""single_thread: one numba (and, when reachable, one OpenBLAS) thread inside, counts restored."""

import numba
import numpy as np
import pytest

from slaf_np.threads import blas_thread_functions, single_thread


def test_single_thread_limits_and_restores_numba_threads():
    before = numba.get_num_threads()
    with single_thread():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_single_thread_restores_after_an_exception():
    before = numba.get_num_threads()
    get, _ = blas_thread_functions()
    blas_before = get() if get else None
    with pytest.raises(RuntimeError), single_thread():
        raise RuntimeError("inside")
    assert numba.get_num_threads() == before
    if get:
        assert get() == blas_before


def test_blas_thread_functions_set_the_count_when_found():
    get, set_ = blas_thread_functions()
    if get is None:
        pytest.skip("NumPy's BLAS exposes no OpenBLAS thread functions here")
    before = get()
    with single_thread():
        assert get() == 1
        a = np.ones((64, 64))
        assert (a @ a)[0, 0] == 64.0
    assert get() == before
