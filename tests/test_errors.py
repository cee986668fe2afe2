"""Bad input across modules gets a clear error naming the argument or layer (review findings)."""

import json

import numpy as np
import pytest

import slaf_np as sn
from slaf_np.polynomial import expand
from slaf_np.train.evaluation import _batches
from slaf_np.train.loop import fit
from slaf_np.train.losses import sigmoid_binary_cross_entropy
from slaf_np.train.optim import SGD, Adam
from slaf_np.utils import atomic_write_json, to_json


def _mlp(seed=0):
    return sn.Sequential(sn.Dense(2, 4, rng=seed), sn.ReLU(), sn.Dense(4, 1, rng=seed + 1))


def test_fit_rejects_an_optimizer_of_another_model():
    model, other = _mlp(0), _mlp(1)
    X = np.zeros((8, 2), np.float32)
    with pytest.raises(ValueError, match="optimizer was built for another model"):
        fit(model, X, np.zeros(8, np.float32), "mse", Adam(other), epochs=1, batch_size=4,
            verbose=False)
    with pytest.raises(TypeError, match="optimizer must be a slaf_np.train.optim optimiser"):
        fit(model, X, np.zeros(8, np.float32), "mse", None, epochs=1, batch_size=4)


def test_fit_rejects_missing_targets_and_bad_validation():
    model = _mlp()
    X = np.zeros((8, 2), np.float32)
    with pytest.raises(ValueError, match="y \\(the targets\\) is required"):
        fit(model, X, None, "mse", Adam(model), epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="validation must be a pair"):
        fit(model, X, np.zeros(8, np.float32), "mse", Adam(model), epochs=1, batch_size=4,
            validation=(X,))


def test_a_last_batch_of_one_joins_the_previous_in_training():
    assert list(_batches(9, 4, merge_single=True)) == [(0, 4), (4, 9)]
    assert list(_batches(9, 4)) == [(0, 4), (4, 8), (8, 9)]
    assert list(_batches(1, 4, merge_single=True)) == [(0, 1)]
    model = sn.Sequential(sn.Dense(2, 3, rng=0), sn.SLAF(3, 2, rng=0), sn.Dense(3, 1, rng=1))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 2)).astype(np.float32), np.zeros(9, np.float32)
    hist = fit(model, X, y, "mse", Adam(model), epochs=2, batch_size=4, verbose=False)
    assert np.isfinite(hist.train_loss).all()


def test_batch_statistics_need_two_values():
    with pytest.raises(ValueError, match="SLAF.forward: batch statistics need more than one"):
        sn.SLAF(3, 2).forward(np.zeros((1, 3), np.float32), training=True)
    with pytest.raises(ValueError, match="BatchNorm.forward: batch statistics need more than one"):
        sn.BatchNorm(3).forward(np.zeros((1, 3), np.float32), training=True)
    # evaluation mode, and raw powers without statistics, are fine with one sample
    assert sn.SLAF(3, 2).forward(np.ones((1, 3), np.float32)).shape == (1, 3)
    assert sn.SLAF(3, 2, normalize=False).forward(np.ones((1, 3), np.float32),
                                                  training=True).shape == (1, 3)


def test_binary_cross_entropy_targets_in_unit_interval():
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\], got \[0, 2\]"):
        sigmoid_binary_cross_entropy(np.zeros((2, 1)), np.array([0, 2]))


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(_mlp(), lr=0.1, nesterov=True)


def test_save_to_a_directory_names_it(tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        sn.save(_mlp(), tmp_path)


def test_expand_of_a_non_module():
    with pytest.raises(TypeError, match="expected a Module .* got list"):
        expand([sn.Dense(2, 1)])


def test_results_json_is_strict(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"loss": [1.0, float("nan"), np.inf]})
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c)) == \
        {"loss": [1.0, None, None]}
    assert "NaN" not in to_json({"a": np.float32("nan")})
