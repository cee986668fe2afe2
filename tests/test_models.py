"""The model zoo (slaf_np.models): the paper's layouts, parameter counts, gradients, save/load.

Parameter counts are checked against the closed forms of slaf_np.experiments.polyfeatures (so the
two sources of the MNIST networks agree) and against the ResNet formula; the whole-model gradient
check (tier 3) runs over the packed parameters of a tiny variant of each builder in float64, in
training mode (BatchNorm and SLAF on batch statistics, dropout on a fixed mask).
"""

import numpy as np
import pytest

from slaf_np import models
from slaf_np.experiments.polyfeatures import MNIST_RELU, mnist_cnn_params
from slaf_np.gradcheck import check_model
from slaf_np.nn import SLAF, AvgPool2D, Dropout, ReLU, Residual, io
from slaf_np.train.calibration import recalibrate
from slaf_np.train.losses import softmax_cross_entropy

F64 = np.float64


def n_params(model) -> int:
    return sum(p.size for p in model.params.values())


# -- layouts and parameter counts ---------------------------------------------------------------
def test_mnist_counts_agree_with_the_closed_forms_of_polyfeatures():
    assert n_params(models.mnist_slnn(rng=0)) == mnist_cnn_params()[0]        # about 1.63M
    assert n_params(models.mnist_relu_cnn(rng=0)) == mnist_cnn_params(MNIST_RELU)[0]  # 3.27M
    assert round(n_params(models.mnist_slnn(rng=0)) / 1e4) == 164
    assert round(n_params(models.mnist_relu_cnn(rng=0)) / 1e4) == 327


def resnet_params(n: int, w: int, c_in: int = 3, classes: int = 10) -> int:
    """Convolutions (no bias) + BN (2 per channel) of ResNet v1 with option-B shortcuts."""
    stem = 9 * c_in * w + 2 * w
    total, c = stem, w
    for stage in range(3):
        o = w * 2 ** stage
        for _ in range(n):
            total += 9 * c * o + 2 * o + 9 * o * o + 2 * o
            if c != o:
                total += c * o + 2 * o                 # 1x1 shortcut + BN
            c = o
    return total + (c + 1) * classes


@pytest.mark.parametrize("depth", [20, 32])
def test_cifar_resnet_count(depth):
    model = models.cifar_resnet(depth, rng=0)
    assert n_params(model) == resnet_params((depth - 2) // 6, 16)
    if depth == 20:
        assert round(n_params(model) / 1e4) == 27                             # the usual 0.27M


def test_hybrid_replaces_only_the_first_activation():
    base = models.cifar_resnet(20, rng=0)
    hybrid = models.cifar_resnet(20, first_activation=lambda c: SLAF(c, 2), rng=0)
    slafs = [m for m in hybrid.modules() if isinstance(m, SLAF)]
    assert len(slafs) == 1 and hybrid[2] is slafs[0] and slafs[0].num_features == 16
    relus = sum(isinstance(m, ReLU) for m in base.modules())
    assert sum(isinstance(m, ReLU) for m in hybrid.modules()) == relus - 1 == 2 * 9
    assert n_params(hybrid) - n_params(base) == 16 * (2 + 1)


def test_cifar_resnet_refuses_a_depth_that_is_not_6n_plus_2():
    with pytest.raises(ValueError, match="cifar_resnet: depth must be 6 n \\+ 2.*got 21"):
        models.cifar_resnet(21)


def test_fashion_slnn_layout():
    model = models.fashion_slnn(rng=0)
    slafs = [m for m in model.modules() if isinstance(m, SLAF)]
    assert len(slafs) == 8 and all(s.degree == 2 for s in slafs)    # degree 2^8 along the path
    assert [m.num_features for m in slafs] == [32, 32, 64, 64, 128, 128, 512, 512]
    assert sum(isinstance(m, Residual) for m in model.layers) == 2
    assert sum(isinstance(m, AvgPool2D) for m in model.layers) == 3
    assert model[-1].in_features == 512 and model[-5].in_features == 128 * 4 * 4  # 7 -> 4
    hybrid = models.fashion_slnn(hybrid=True, rng=0)
    assert len([m for m in hybrid.modules() if isinstance(m, SLAF)]) == 6


def test_fashion_resnet_layout_and_its_slaf_head():
    base = models.fashion_resnet(rng=0)
    assert not any(isinstance(m, SLAF) for m in base.modules())
    head = models.fashion_resnet(slaf_head=True, rng=0)
    slafs = [m for m in head.modules() if isinstance(m, SLAF)]
    assert len(slafs) == 1 and slafs[0].shared and head[-2] is slafs[0]
    # one BN (gamma, beta: 2 x 512) swapped for one shared SLAF k=2 (c: 2, b: 1)
    assert n_params(base) - n_params(head) == 2 * 512 - 3


@pytest.mark.parametrize("build, shape", [
    (models.mnist_slnn, (2, 1, 28, 28)), (models.mnist_relu_cnn, (2, 1, 28, 28)),
    (models.fashion_slnn, (2, 1, 28, 28)), (models.fashion_resnet, (2, 1, 28, 28)),
    (models.cifar_resnet, (2, 3, 32, 32))])
def test_output_shape_on_a_tiny_batch(build, shape):
    model = build(rng=0)
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    # evaluation mode needs running statistics: fresh ones (0, 1) overflow the degree-256 SLNN
    recalibrate(model, x)
    for training in (True, False):
        y = model.forward(x, training=training)
        assert y.shape == (2, 10) and y.dtype == np.float32 and np.isfinite(y).all()
    assert model.output_shape(shape) == (2, 10)


def test_same_seed_same_network():
    a, b = models.mnist_slnn(rng=3), models.mnist_slnn(rng=3)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    c = models.mnist_slnn(rng=4)
    assert not np.array_equal(a.params[next(iter(a.params))], c.params[next(iter(c.params))])


# -- tiny variants: whole-model gradients and save/load ------------------------------------------
TINY = {
    "mnist_slnn": (lambda: models.mnist_slnn(widths=(2, 3, 4), image=7, rng=0, dtype=F64),
                   (3, 1, 7, 7)),
    "mnist_relu_cnn": (lambda: models.mnist_relu_cnn(widths=(2, 3, 4), image=7, rng=0, dtype=F64),
                       (3, 1, 7, 7)),
    "cifar_resnet": (lambda: models.cifar_resnet(8, lambda c: SLAF(c, 2, dtype=F64), width=2,
                                                 rng=0, dtype=F64), (3, 3, 6, 6)),
    "fashion_slnn": (lambda: models.fashion_slnn(widths=(2, 2, 3), fc=4, image=6, rng=0,
                                                 dtype=F64), (3, 1, 6, 6)),
    "fashion_hybrid": (lambda: models.fashion_slnn(hybrid=True, widths=(2, 2, 3), fc=4, image=6,
                                                   rng=0, dtype=F64), (3, 1, 6, 6)),
    "fashion_resnet": (lambda: models.fashion_resnet(slaf_head=True, widths=(2, 3, 3), fc=4,
                                                     image=6, rng=0, dtype=F64), (3, 1, 6, 6)),
}


def _fix_dropout(model, x) -> None:
    """Training-mode dropout on a fixed mask, so the loss is a function of the parameters."""
    rng = np.random.default_rng(5)
    for layer in model.modules():
        if isinstance(layer, Dropout):
            shape = model.input_of(layer, x).shape
            layer.fixed_mask = (rng.random(shape) > layer.p) / (1 - layer.p)


@pytest.mark.parametrize("name", list(TINY))
def test_whole_model_gradient_over_packed_parameters(name):
    build, shape = TINY[name]
    model = build()
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal(shape), rng.integers(0, 10, shape[0])
    _fix_dropout(model, x)
    check_model(model, x, labels, softmax_cross_entropy, training=True)


@pytest.mark.parametrize("name", list(TINY))
def test_save_load_round_trip(name, tmp_path):
    build, shape = TINY[name]
    model = build()
    x = np.random.default_rng(2).standard_normal(shape)
    model.forward(x, training=True)            # moves the running statistics off their start
    io.save(model, tmp_path / "m.npz")
    back = io.load(tmp_path / "m.npz")
    assert repr(back) == repr(model)
    np.testing.assert_array_equal(back.forward(x), model.forward(x))
