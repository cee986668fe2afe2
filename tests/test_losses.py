"""Losses: values against the textbook formulas, gradients against central differences, numerical
stability for large logits, and the errors bad targets get."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaf_np.gradcheck import numerical_jacobian
from slaf_np.train.losses import (
    get_loss,
    logsumexp,
    mse,
    sigmoid_binary_cross_entropy,
    softmax,
    softmax_cross_entropy,
)
from tests.strategies import classification_batches, dense_shapes, float64_arrays, seeds


def _check_gradient(loss, pred, target):
    """The returned gradient equals the central difference of the returned value."""
    value, grad = loss(pred, target)
    assert grad.shape == pred.shape and grad.dtype == pred.dtype
    pred = pred.copy()
    numeric = numerical_jacobian(lambda: np.array(loss(pred, target)[0]), pred)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    return value


@given(dense_shapes(), seeds)
def test_mse(shape, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    value = _check_gradient(mse, pred, target)
    assert value == pytest.approx(np.mean((pred - target) ** 2), rel=1e-12)


def test_mse_column_against_vector_targets():
    pred = np.array([[1.0], [2.0], [4.0]])
    value, grad = mse(pred, np.array([0.0, 2.0, 2.0]))
    assert value == pytest.approx((1 + 0 + 4) / 3)
    np.testing.assert_allclose(grad, [[2 / 3], [0.0], [4 / 3]])


@given(classification_batches())
def test_softmax_cross_entropy(batch):
    logits, labels = batch
    value = _check_gradient(softmax_cross_entropy, logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(len(labels)), labels])), rel=1e-10)


@given(dense_shapes(), seeds, st.booleans())
def test_sigmoid_binary_cross_entropy(shape, seed, soft):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 3
    target = rng.random(shape) if soft else (rng.random(shape) < 0.5).astype(float)
    value = _check_gradient(sigmoid_binary_cross_entropy, logits, target)
    s = 1 / (1 + np.exp(-logits))
    naive = -np.mean(target * np.log(s) + (1 - target) * np.log(1 - s))
    assert value == pytest.approx(naive, rel=1e-10)


def test_bce_column_against_vector_targets():
    logits = np.array([[0.0], [2.0]])
    value, grad = sigmoid_binary_cross_entropy(logits, np.array([1, 0]))
    assert value == pytest.approx((np.log(2) + np.log1p(np.exp(2.0))) / 2)
    assert grad.shape == (2, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_logits(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-800.0, 900.0, 900.0]], dtype)
    value, grad = softmax_cross_entropy(logits, np.array([0, 1]))
    assert np.isfinite(value) and np.isfinite(grad).all()
    # row 1 has two tied maxima; float32 rounds 900 + log 2 to a spacing of 6e-5
    assert value == pytest.approx(np.log(2) / 2, abs=1e-4)
    z = np.array([[-1000.0], [1000.0], [50.0]], dtype)
    value, grad = sigmoid_binary_cross_entropy(z, np.array([1.0, 0.0, 1.0]))
    assert value == pytest.approx((1000 + 1000 + np.log1p(np.exp(-50.0))) / 3, rel=1e-5)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(logsumexp(np.array([[1e4, 1e4]])), [1e4 + np.log(2)])
    np.testing.assert_allclose(softmax(np.array([[1e4, 1e4]])), [[0.5, 0.5]])


@given(float64_arrays((3, 4), scale=5.0))
def test_softmax_gradient_rows_sum_to_zero(logits):
    _, grad = softmax_cross_entropy(logits, np.array([0, 3, 1]))
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"mse: predictions have shape \(3, 2\), targets \(3,\)"):
        mse(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(TypeError, match=r"mse: predictions must be a float array, got int64"):
        mse(np.zeros((3, 1), np.int64), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels must be in \[0, 3\), "
                                         r"got \[0, 3\]"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match=r"softmax_cross_entropy: labels must be integers, "
                                        r"got float64"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: expected logits \(N, K\) and "
                                         r"labels \(N,\), got \(2, 3\) and \(3,\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"sigmoid_binary_cross_entropy: predictions have shape "
                                         r"\(2, 2\), targets \(2,\)"):
        sigmoid_binary_cross_entropy(np.zeros((2, 2)), np.zeros(2))


def test_get_loss():
    assert get_loss("mse") is mse
    assert get_loss("cross_entropy") is softmax_cross_entropy
    assert get_loss("bce") is sigmoid_binary_cross_entropy
    assert get_loss(mse) is mse
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; known: \["):
        get_loss("hinge")
