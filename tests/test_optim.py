"""Optimisers against hand computations: a worked SGD step through a tiny network, Adam, momentum
and Nesterov, clipping, the decoupled L1/L2 steps, parameter groups, schedules and saved state."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from slaf_np.kernels.optim import adam_step, adam_step_numpy
from slaf_np.nn import SLAF as SLAFLayer  # "SLAF" is a stand-in class below
from slaf_np.nn import BatchNorm, Dense, Module, ReLU, Residual, Sequential, Tanh
from slaf_np.train import optim
from slaf_np.train.losses import mse
from slaf_np.train.optim import SGD, Adam, CoupledPenalty, StepSchedule, param_groups


def source(**arrays):
    """A minimal params source: ``params`` as given (float64) and zero ``grads``."""
    params = {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}
    return SimpleNamespace(params=params, grads={k: np.zeros_like(p) for k, p in params.items()})


# -- the hand-worked example (STYLE.md rule 8) -----------------------------------------------------
def test_one_sgd_step_by_hand():
    """Dense(2, 2) -> Tanh -> Dense(2, 1), MSE, one SGD step with lr = 0.1, every value by hand.

    The two samples are the unit vectors, so the first layer's pre-activation is just W1 + b1.
    """
    d1 = Dense(2, 2, dtype=np.float64)
    d2 = Dense(2, 1, dtype=np.float64)
    d1.params["W"][...] = [[0.5, -0.5], [0.25, 1.0]]
    d1.params["b"][...] = [0.0, 0.5]
    d2.params["W"][...] = [[1.0], [-2.0]]
    d2.params["b"][...] = [0.5]
    model = Sequential(d1, Tanh(), d2)
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0], [0.0]])

    # forward
    # z = X W1 + b1 = [[0.5, 0.0], [0.25, 1.5]]
    # h = tanh z    = [[0.46211715726000974, 0.0], [0.24491866240370913, 0.9051482536448664]]
    # out = h W2 + b2: row 0: 0.46211715726 * 1 + 0 * (-2) + 0.5               =  0.96211715726
    #                  row 1: 0.24491866240 * 1 + 0.90514825364 * (-2) + 0.5   = -1.06537784489
    out = model.forward(X, training=True)
    np.testing.assert_allclose(out, [[0.9621171572600098], [-1.0653778448860236]], rtol=1e-14)

    # loss = mean (out - y)^2 = ((-0.0378828427)^2 + (-1.0653778449)^2) / 2 = 0.5682325310740255
    # dout = 2 (out - y) / 2 = [[-0.03788284273999021], [-1.0653778448860236]]
    loss, dout = mse(out, y)
    assert loss == pytest.approx(0.5682325310740255, rel=1e-14)
    np.testing.assert_allclose(dout, [[-0.03788284273999021], [-1.0653778448860236]], rtol=1e-14)

    # backward
    # dW2 = h^T dout = [0.46211715726 * -0.03788284274 + 0.24491866240 * -1.06537784489,
    #                   0 * -0.03788284274 + 0.90514825364 * -1.06537784489]
    #     = [-0.2784372283199634, -0.9643248957705156]
    # db2 = sum dout = -1.1032606876260138
    # dh  = dout W2^T = [[-0.03788284274, 0.07576568548], [-1.06537784489, 2.13075568977]]
    # dz  = dh (1 - h^2) = [[-0.02979287579117004, 0.07576568547998042],
    #                       [-1.0014709937822004, 0.3850416990661471]]
    # dW1 = X^T dz = dz (X is the identity); db1 = sum over rows of dz
    #     = [-1.0312638695733705, 0.4608073845461275]
    model.zero_grad()
    model.backward(dout)
    np.testing.assert_allclose(d2.grads["W"][:, 0], [-0.2784372283199634, -0.9643248957705156],
                               rtol=1e-13)
    np.testing.assert_allclose(d2.grads["b"], [-1.1032606876260138], rtol=1e-13)
    np.testing.assert_allclose(d1.grads["W"], [[-0.02979287579117004, 0.07576568547998042],
                                               [-1.0014709937822004, 0.3850416990661471]],
                               rtol=1e-13)
    np.testing.assert_allclose(d1.grads["b"], [-1.0312638695733705, 0.4608073845461275],
                               rtol=1e-13)

    # one step p <- p - 0.1 dp
    W1 = d1.params["W"]
    SGD(model, lr=0.1).step()
    assert d1.params["W"] is W1  # updated in place, never rebound
    np.testing.assert_allclose(d1.params["W"], [[0.502979287579117, -0.507576568547998],
                                                [0.35014709937822003, 0.9614958300933852]],
                               rtol=1e-14)
    np.testing.assert_allclose(d1.params["b"], [0.10312638695733706, 0.45391926154538725],
                               rtol=1e-14)
    np.testing.assert_allclose(d2.params["W"][:, 0], [1.0278437228319963, -1.9035675104229484],
                               rtol=1e-14)
    np.testing.assert_allclose(d2.params["b"], [0.6103260687626014], rtol=1e-14)


# -- Adam ------------------------------------------------------------------------------------------
def test_adam_two_steps_by_hand():
    src = source(p=[1.0, -2.0])
    opt = Adam(src, lr=0.1, eps=1e-7)
    # step 1, g = [0.5, -0.1]: m = 0.1 g = [0.05, -0.01]; v = 0.001 g^2 = [2.5e-4, 1e-5]
    # lr_1 = 0.1 sqrt(1 - 0.999) / (1 - 0.9) = 0.1 * 0.316227766...
    # sqrt(v) = [0.0158114, 0.0031623]
    # p -= lr_1 m / (sqrt(v) + eps), which is about lr * sign(g) = [0.1, -0.1] on a first step
    src.grads["p"][...] = [0.5, -0.1]
    opt.step()
    lr1 = 0.1 * math.sqrt(0.001) / 0.1
    m1 = np.array([0.05, -0.01])
    v1 = np.array([2.5e-4, 1e-5])
    p1 = np.array([1.0, -2.0]) - lr1 * m1 / (np.sqrt(v1) + 1e-7)
    np.testing.assert_allclose(src.params["p"], p1, rtol=1e-15)
    np.testing.assert_allclose(src.params["p"], [0.9, -1.9], atol=1e-5)
    # step 2, g = [0.2, 0.3]: m = 0.9 m1 + 0.1 g; v = 0.999 v1 + 0.001 g^2;
    # lr_2 = 0.1 sqrt(1 - 0.999^2) / (1 - 0.9^2)
    src.grads["p"][...] = [0.2, 0.3]
    opt.step()
    m2 = 0.9 * m1 + 0.1 * np.array([0.2, 0.3])
    v2 = 0.999 * v1 + 0.001 * np.array([0.04, 0.09])
    lr2 = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(src.params["p"], p1 - lr2 * m2 / (np.sqrt(v2) + 1e-7), rtol=1e-14)
    np.testing.assert_allclose(opt.state["p"]["m"], m2, rtol=1e-15)
    np.testing.assert_allclose(opt.state["p"]["v"], v2, rtol=1e-15)
    assert opt.t == 2


def test_adam_default_eps_is_keras():
    assert Adam(source(p=[0.0])).hyper["eps"] == 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_kernel_matches_numpy_twin(dtype):
    """The numba kernel and its NumPy twin round every operation alike: equal bits."""
    rng = np.random.default_rng(0)
    n = optim.FUSED_MIN_SIZE + 7
    p = rng.standard_normal(n).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    f = np.dtype(dtype).type
    for t in range(1, 4):
        g = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 3, n)).astype(dtype)
        consts = (f(0.9), f(0.999), f(0.1), f(1 - 0.999), f(1e-7),
                  f(1e-3 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)))
        adam_step(p, g, m, v, *consts)
        adam_step_numpy(p2, g, m2, v2, *consts)
    np.testing.assert_array_equal(p, p2)
    np.testing.assert_array_equal(m, m2)
    np.testing.assert_array_equal(v, v2)


def test_adam_large_and_small_parameters_take_the_same_path_results(monkeypatch):
    """A model with a parameter above FUSED_MIN_SIZE gives the same weights either way."""
    sizes = []

    def kernel(p, *args):  # the numba kernel, recording the sizes it is given
        sizes.append(p.size)
        adam_step(p, *args)

    monkeypatch.setattr(optim, "adam_step", kernel)

    def run(threshold):
        monkeypatch.setattr(optim, "FUSED_MIN_SIZE", threshold)
        model = Dense(128, 80, rng=0)
        opt = Adam(model, lr=1e-2)
        rng = np.random.default_rng(1)
        for _ in range(3):
            model.grads["W"][...] = rng.standard_normal(model.grads["W"].shape)
            model.grads["b"][...] = rng.standard_normal(80)
            opt.step()
        return model.params["W"]

    np.testing.assert_array_equal(run(8192), run(math.inf))
    assert sizes == [128 * 80] * 3  # W (10,240 entries) by the kernel, b and the inf run not


# -- SGD with momentum -----------------------------------------------------------------------------
def test_momentum_by_hand():
    # g = 1 at every step, lr = 0.1, mu = 0.9:  v1 = -0.1, p1 = 0.9;  v2 = -0.19, p2 = 0.71
    src = source(p=[1.0])
    opt = SGD(src, lr=0.1, momentum=0.9)
    src.grads["p"][...] = 1.0
    opt.step()
    assert src.params["p"][0] == pytest.approx(0.9, abs=1e-15)
    opt.step()
    assert src.params["p"][0] == pytest.approx(0.71, abs=1e-15)
    assert opt.state["p"]["velocity"][0] == pytest.approx(-0.19, abs=1e-15)


def test_nesterov_by_hand():
    # v1 = -0.1, p1 = 1 + 0.9 (-0.1) - 0.1 = 0.81;  v2 = -0.19, p2 = 0.81 - 0.171 - 0.1 = 0.539
    src = source(p=[1.0])
    opt = SGD(src, lr=0.1, momentum=0.9, nesterov=True)
    src.grads["p"][...] = 1.0
    opt.step()
    assert src.params["p"][0] == pytest.approx(0.81, abs=1e-15)
    opt.step()
    assert src.params["p"][0] == pytest.approx(0.539, abs=1e-15)


# -- clipping --------------------------------------------------------------------------------------
def test_global_norm_clipping_scales_to_the_norm():
    # grads 3 and 4 in two arrays: global norm 5; clip 1 scales them by 1/5
    src = source(a=[0.0], b=[0.0])
    src.grads["a"][...], src.grads["b"][...] = 3.0, 4.0
    opt = SGD(src, lr=1.0, clip_norm=1.0)
    opt.step()
    assert opt.last_grad_norm == pytest.approx(5.0)
    np.testing.assert_allclose([src.params["a"][0], src.params["b"][0]], [-0.6, -0.8])
    assert src.grads["a"][0] == 3.0  # the stored gradients are not modified
    # below the threshold nothing is scaled
    src2 = source(a=[0.0], b=[0.0])
    src2.grads["a"][...], src2.grads["b"][...] = 3.0, 4.0
    SGD(src2, lr=1.0, clip_norm=10.0).step()
    np.testing.assert_allclose([src2.params["a"][0], src2.params["b"][0]], [-3.0, -4.0])


def test_clipped_adam_moments_see_the_clipped_gradient():
    src = source(p=[0.0, 0.0])
    src.grads["p"][...] = [30.0, 40.0]
    opt = Adam(src, lr=1e-3, clip_norm=5.0)
    opt.step()
    np.testing.assert_allclose(opt.state["p"]["m"], [0.3, 0.4])



@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("opt_class", [SGD, Adam])
def test_clipping_refuses_a_non_finite_gradient_and_names_it(bad, opt_class):
    # a NaN norm made the scale C / nan = nan and every parameter NaN; an inf norm made it 0 and
    # silently skipped the step: both raise before any parameter or the step count changes
    src = source(a=[1.0], b=[2.0, 3.0], c=[4.0])
    src.grads["a"][...] = 1.0
    src.grads["b"][...] = [0.5, bad]
    opt = opt_class(src, lr=0.1, clip_norm=1.0)
    expected = r"clip_norm=1\.0: the gradients of \['b'\] are non-finite"
    with pytest.raises(FloatingPointError, match=expected):
        opt.step()
    assert opt.t == 0 and opt.state == {}
    np.testing.assert_array_equal(src.params["a"], [1.0])
    np.testing.assert_array_equal(src.params["b"], [2.0, 3.0])


# -- decoupled penalties ---------------------------------------------------------------------------
def test_decoupled_l2_and_l1_steps():
    # zero gradient: L2 alone gives p (1 - lr l2); L1 alone moves each entry lr l1 towards 0
    src = source(p=[0.3, -0.2, 0.0])
    SGD(src, lr=0.1, l2=0.5).step()
    np.testing.assert_allclose(src.params["p"], [0.3 * 0.95, -0.2 * 0.95, 0.0], rtol=1e-15)
    src = source(p=[0.3, -0.2, 0.0])
    SGD(src, lr=0.1, l1=0.5).step()
    np.testing.assert_allclose(src.params["p"], [0.25, -0.15, 0.0], rtol=1e-15)
    # order: the optimiser's update, then L2, then L1: 1 - 0.1 = 0.9; 0.9 * (1 - 0.05) = 0.855;
    # 0.855 - 0.1 * 0.2 = 0.835
    src = source(p=[1.0])
    src.grads["p"][...] = 1.0
    SGD(src, lr=0.1, l2=0.5, l1=0.2).step()
    assert src.params["p"][0] == pytest.approx(0.835, abs=1e-15)


def test_penalties_bypass_adam_moments():
    src = source(p=[2.0])
    opt = Adam(src, lr=0.1, l2=0.5)
    opt.step()  # zero gradient: Adam does nothing, the decoupled step shrinks p by 0.1 * 0.5
    assert src.params["p"][0] == pytest.approx(2.0 * 0.95, abs=1e-15)
    assert opt.state["p"]["m"][0] == 0 and opt.state["p"]["v"][0] == 0


# -- groups ----------------------------------------------------------------------------------------
class SLAF(Module):
    """A stand-in with the class name the "slaf" match looks for."""

    def __init__(self, d):
        super().__init__()
        self.params = {"c": np.ones((d, 3)), "b": np.zeros(d)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


def _grouped_model():
    return Sequential(Dense(2, 3, rng=0, dtype=np.float64), SLAF(3),
                      Residual(Dense(3, 3, rng=1, dtype=np.float64), ReLU(), SLAF(3)),
                      BatchNorm(3, dtype=np.float64), Dense(3, 1, rng=2, dtype=np.float64))


def test_param_groups_selection():
    model = _grouped_model()
    slaf, rest = param_groups(model, {"match": "slaf", "lr": 5e-3})
    assert slaf == {"keys": ["1.c", "1.b", "2.0.2.c", "2.0.2.b"], "lr": 5e-3}
    assert rest["keys"] == ["0.W", "0.b", "2.0.0.W", "2.0.0.b", "3.gamma", "3.beta", "4.W", "4.b"]
    dense, bn, _ = param_groups(model, {"match": Dense}, {"match": "BatchNorm"})
    assert dense["keys"] == ["0.W", "0.b", "2.0.0.W", "2.0.0.b", "4.W", "4.b"]
    assert bn["keys"] == ["3.gamma", "3.beta"]
    # callables see (key, array); the first matching group wins; tuples mean "any of"
    biases, both, rest = param_groups(model, {"match": lambda k, p: k.endswith(".b")},
                                      {"match": (Dense, BatchNorm)})
    assert biases["keys"] == ["0.b", "1.b", "2.0.0.b", "2.0.2.b", "4.b"]
    assert both["keys"] == ["0.W", "2.0.0.W", "3.gamma", "3.beta", "4.W"]
    assert rest["keys"] == ["1.c", "2.0.2.c"]
    explicit, rest = param_groups(model, {"keys": ["4.W"]})
    assert explicit["keys"] == ["4.W"] and "4.W" not in rest["keys"]


def test_groups_with_different_rates():
    model = _grouped_model()
    opt = SGD(model, lr=0.1, groups=[{"match": "slaf", "lr": 0.5}])
    before = {k: p.copy() for k, p in model.params.items()}
    for g in model.grads.values():
        g[...] = 1.0
    opt.step()
    for k, p in model.params.items():
        lr = 0.5 if k in ("1.c", "1.b", "2.0.2.c", "2.0.2.b") else 0.1
        np.testing.assert_allclose(p, before[k] - lr, rtol=1e-15, err_msg=k)


def test_group_penalties_apply_to_their_group_only():
    model = _grouped_model()
    opt = SGD(model, lr=0.1, groups=[{"match": "slaf", "l1": 1.0}])
    before = {k: p.copy() for k, p in model.params.items()}
    opt.step()  # zero gradients: only the SLAF c (all ones) and b (zeros) feel L1
    np.testing.assert_allclose(model.params["1.c"], before["1.c"] - 0.1)
    np.testing.assert_array_equal(model.params["1.b"], 0.0)
    np.testing.assert_array_equal(model.params["0.W"], before["0.W"])


def test_group_errors():
    model = _grouped_model()
    with pytest.raises(ValueError, match=r"Adam group 0: unknown hyperparameters \['momentum'\]"):
        Adam(model, groups=[{"match": "slaf", "momentum": 0.9}])
    with pytest.raises(ValueError, match=r"SGD group 0: lr must be in \[0\.0, inf\), got -1"):
        SGD(model, lr=0.1, groups=[{"match": "slaf", "lr": -1}])
    with pytest.raises(ValueError, match=r"param_groups: group 0 names unknown parameters "
                                         r"\['9\.W'\]"):
        SGD(model, lr=0.1, groups=[{"keys": ["9.W"]}])
    with pytest.raises(ValueError, match=r"param_groups: group 0 needs 'match' or 'keys'"):
        SGD(model, lr=0.1, groups=[{"lr": 0.2}])
    with pytest.raises(TypeError, match=r"param_groups: match must be a callable"):
        SGD(model, lr=0.1, groups=[{"match": 3}])
    with pytest.raises(TypeError, match=r"SGD: params_source must have 'params' and 'grads' "
                                        r"dicts \(a model\), got list"):
        SGD([np.zeros(2)], lr=0.1)


# -- hyperparameter errors -------------------------------------------------------------------------
@pytest.mark.parametrize("make, pattern", [
    (lambda s: SGD(s, lr=-0.1), r"SGD: lr must be in \[0\.0, inf\), got -0\.1"),
    (lambda s: Adam(s, lr=-1e-3), r"Adam: lr must be in \[0\.0, inf\), got -0\.001"),
    (lambda s: Adam(s, beta1=1.0), r"Adam: beta1 must be in \[0\.0, 1\.0\), got 1\.0"),
    (lambda s: Adam(s, beta2=-0.1), r"Adam: beta2 must be in \[0\.0, 1\.0\), got -0\.1"),
    (lambda s: Adam(s, eps=0.0), r"Adam: eps must be in \(0\.0, inf\), got 0\.0"),
    (lambda s: Adam(s, clip_norm=-1.0), r"Adam: clip_norm must be in \(0\.0, inf\), got -1\.0"),
    (lambda s: SGD(s, lr=0.1, momentum=1.0), r"SGD: momentum must be in \[0\.0, 1\.0\), got 1\.0"),
    (lambda s: SGD(s, lr=0.1, l1=-0.01), r"SGD: l1 must be in \[0\.0, inf\), got -0\.01"),
    (lambda s: SGD(s, lr=0.1, l2=float("nan")), r"SGD: l2 must be in \[0\.0, inf\), got nan"),
    (lambda s: SGD(s, lr="fast"), r"SGD: lr must be a number, got 'fast'"),
])
def test_bad_hyperparameters(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make(source(p=[0.0]))


# -- schedules -------------------------------------------------------------------------------------
def test_step_schedule_values():
    s = StepSchedule([(0, 1e-2), (3000, 1e-3), (5000, 5e-5)])
    assert [s(t) for t in (0, 2999, 3000, 4999, 5000, 10**9)] == [1e-2, 1e-2, 1e-3, 1e-3, 5e-5,
                                                                  5e-5]
    assert s.unit == "iteration"
    assert StepSchedule([(0, 0.1), (100, 0.01)], unit="epoch")(100) == 0.01


@pytest.mark.parametrize("args, pattern", [
    (([(1, 0.1)],), r"StepSchedule: the first milestone must start at 0"),
    (([(0, 0.1), (5, 0.01), (5, 0.001)],), r"StepSchedule: milestone starts must increase, "
                                          r"got \[0, 5, 5\]"),
    (([(0, -0.1)],), r"StepSchedule: rate at iteration 0 must be in \[0\.0, inf\), got -0\.1"),
    (([(0, 0.1)], "batch"), r"StepSchedule: unit must be 'iteration' or 'epoch', got 'batch'"),
    (([0.1],), r"StepSchedule: milestones must be \(start, rate\) pairs"),
])
def test_step_schedule_errors(args, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        StepSchedule(*args)


def test_set_lr_scales_every_group():
    model = _grouped_model()
    opt = SGD(model, lr=0.1, groups=[{"match": "slaf", "lr": 0.5}])
    opt.set_lr(0.01)  # a tenth of the default rate: the SLAF group goes to 0.05
    assert opt.current_lr == pytest.approx(0.01)
    before = {k: p.copy() for k, p in model.params.items()}
    for g in model.grads.values():
        g[...] = 1.0
    opt.step()
    np.testing.assert_allclose(model.params["1.c"], before["1.c"] - 0.05, rtol=1e-14)
    np.testing.assert_allclose(model.params["0.W"], before["0.W"] - 0.01, rtol=1e-14)
    with pytest.raises(ValueError, match=r"SGD\.set_lr: lr must be in \[0\.0, inf\), got -1"):
        opt.set_lr(-1)


# -- state -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda m: Adam(m, lr=1e-2),
                                  lambda m: SGD(m, lr=1e-2, momentum=0.9, nesterov=True)],
                         ids=["adam", "nesterov"])
def test_state_dict_round_trip(make):
    rng = np.random.default_rng(0)
    a = Sequential(Dense(3, 4, rng=0), Tanh(), Dense(4, 2, rng=1))
    b = Sequential(Dense(3, 4, rng=0), Tanh(), Dense(4, 2, rng=1))
    opt_a = make(a)
    grads = [{k: rng.standard_normal(g.shape).astype(g.dtype) for k, g in a.grads.items()}
             for _ in range(5)]

    def step(model, opt, g):
        for k, v in g.items():
            model.grads[k][...] = v
        opt.step()

    for g in grads[:3]:
        step(a, opt_a, g)
    for k, p in a.params.items():
        b.params[k][...] = p
    opt_b = make(b)
    opt_b.load_state_dict(opt_a.state_dict())
    opt_b.set_lr(opt_a.current_lr)
    for g in grads[3:]:
        step(a, opt_a, g)
        step(b, opt_b, g)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert opt_b.t == 5


def test_load_state_dict_errors():
    model = Sequential(Dense(3, 4, rng=0))
    opt = Adam(model)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"SGD\.load_state_dict: state is from a 'Adam' "
                                         r"optimiser, expected 'SGD'"):
        SGD(model, lr=0.1).load_state_dict(state)
    other = Adam(Sequential(Dense(3, 5, rng=0)))
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: 0\.W\.m has shape \(3, 4\), "
                                         r"the parameter \(3, 5\)"):
        other.load_state_dict(state)


def test_zero_grad_and_in_place_updates():
    model = Sequential(Dense(3, 2, rng=0), Tanh())
    arrays = dict(model.params)
    opt = Adam(model)
    model.forward(np.ones((4, 3), np.float32))
    model.backward(np.ones((4, 2), np.float32))
    opt.step()
    assert all(model.params[k] is arrays[k] for k in arrays)
    assert model.params["0.W"].dtype == np.float32
    opt.zero_grad()
    assert not any(g.any() for g in model.grads.values())
    assert "group sizes [2]" in repr(opt)


# -- coupled (Keras-style) penalties -----------------------------------------------------------
def test_coupled_penalty_by_hand():
    # p = [0.5, -2]: R = 0.1 (0.5 + 2) + 0.3 (0.25 + 4) = 1.525; dR/dp = 0.1 sign(p) + 0.6 p
    d = Dense(2, 1, rng=0, dtype=np.float64)
    d.params["W"][:, 0] = [0.5, -2.0]
    pen = CoupledPenalty({"W": (0.1, 0.3)})
    assert pen.value(d) == pytest.approx(1.525)
    d.zero_grad()
    pen.add_gradients(d)
    np.testing.assert_allclose(d.grads["W"][:, 0], [0.1 + 0.3, -0.1 - 1.2])
    with pytest.raises(KeyError, match="no parameters"):
        CoupledPenalty({"nope": (1.0, 0.0)}).add_gradients(d)


def test_coupled_penalty_gradient_matches_finite_differences():
    """backward + add_gradients is the gradient of MSE + R (training-mode SLAF, float64)."""
    rng = np.random.default_rng(1)
    model = Sequential(Dense(3, 4, rng=rng, init="glorot", dtype=np.float64),
                       SLAFLayer(4, 3, shared=True, rng=rng, dtype=np.float64),
                       Dense(4, 1, rng=rng, init="glorot", dtype=np.float64))
    pen = CoupledPenalty({"0.W": (0.0, 0.05), "1.c": (0.01, 0.0), "2.W": (0.1, 0.2)})
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))

    def total():
        return mse(model.forward(x, training=True), y)[0] + pen.value(model)

    model.zero_grad()
    _, dout = mse(model.forward(x, training=True), y)
    model.backward(dout)
    pen.add_gradients(model)
    h = 1e-6
    for key in pen.terms:
        p, g = model.params[key], model.grads[key]
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = total()
            p[i] = old - h
            down = total()
            p[i] = old
            assert g[i] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7), (key, i)


def test_coupled_penalty_goes_through_adam_unlike_decoupled():
    # with a zero data gradient, coupled L2 makes Adam step by lr * sign(p) (normalised),
    # while the decoupled step shrinks p by lr * l2 * p
    d1, d2 = (Dense(1, 1, rng=0, dtype=np.float64) for _ in range(2))
    for d in (d1, d2):
        d.params["W"][...] = 2.0
    coupled, decoupled = Adam(d1, lr=0.1, eps=1e-8), Adam(d2, lr=0.1, eps=1e-8, l2=0.5)
    d1.zero_grad()
    CoupledPenalty({"W": (0.0, 0.5)}).add_gradients(d1)
    coupled.step()
    d2.zero_grad()
    decoupled.step()
    assert d1.params["W"][0, 0] == pytest.approx(2.0 - 0.1, rel=1e-6)
    assert d2.params["W"][0, 0] == pytest.approx(2.0 * (1 - 0.1 * 0.5))


def test_coupled_penalty_is_callable_as_a_gradient_hook():
    d = Dense(2, 1, rng=0, dtype=np.float64)
    d.params["W"][:, 0] = [0.5, -2.0]
    pen = CoupledPenalty({"W": (0.1, 0.3)})
    d.zero_grad()
    pen(d)
    np.testing.assert_allclose(d.grads["W"][:, 0], [0.4, -1.3])
    assert "W" in repr(pen)
