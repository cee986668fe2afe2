"""Callbacks and resuming: fit's keywords equal the callbacks they build, and a run stopped at any
point (a killed process included) continues from its checkpoint bit for bit."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slaf_np.nn import BatchNorm, Dense, Dropout, ReLU, Residual, Sequential, io
from slaf_np.train import (
    Callback,
    Checkpoint,
    EvalEvery,
    KeepBest,
    Progress,
    Schedule,
    TrainingDivergedError,
    fit,
)
from slaf_np.train.checkpoint import layer_generators
from slaf_np.train.losses import softmax_cross_entropy
from slaf_np.train.optim import Adam, StepSchedule

N, BATCH, EPOCHS = 203, 16, 3  # 13 steps per epoch, the last of 11 rows: 39 iterations


def _xor(n, seed):
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, 2))
    X = (signs + 0.3 * rng.standard_normal((n, 2))).astype(np.float32)
    return X, (signs[:, 0] * signs[:, 1] > 0).astype(np.int64)


X, Y = _xor(N, 0)
VALIDATION = _xor(61, 1)


def _model(width=16):
    """Parameters, running statistics (BatchNorm) and a Generator held by a layer (Dropout)."""
    rng = np.random.default_rng(5)
    return Sequential(Dense(2, width, rng=rng), BatchNorm(width), ReLU(), Dropout(0.3, rng=rng),
                      Dense(width, 2, rng=rng))


def _run(path, callbacks=(), epochs=EPOCHS, **settings):
    """The run under test, every object built afresh as a new process would build it."""
    model = _model(settings.pop("width", 16))
    opt = Adam(model, lr=2e-2)
    rng = np.random.default_rng(7)
    kw = {"validation": VALIDATION, "metric": "accuracy", "eval_every": 5, "verbose": False,
          "checkpoint": path, "checkpoint_every": 6, **settings}
    hist = fit(model, X, Y, "softmax_cross_entropy", opt, epochs, kw.pop("batch_size", BATCH),
               rng=rng, callbacks=list(callbacks), **kw)
    return hist, model, opt, rng


def _state(hist, model, opt, rng):
    """Everything that must be bit-identical: history (not seconds), weights, buffers, the
    optimiser state and every rng."""
    h = hist.to_dict()
    h.pop("seconds")
    return {"history": h, "params": dict(model.params), "buffers": dict(model.buffers),
            "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
            "layer rngs": {k: g.bit_generator.state for k, g in layer_generators(model).items()}}


def _assert_same(a, b, where="state"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


class Interrupt(Callback):
    """Stops the process right after iteration ``at`` (and its checkpoint): ``how="kill"`` sends
    itself SIGKILL, ``"raise"`` raises :class:`Interrupted` (in-process, cheaper)."""

    def __init__(self, at: int, how: str = "raise", at_epoch_end: bool = False) -> None:
        self.at, self.how, self.at_epoch_end = at, how, at_epoch_end

    def _maybe_stop(self, run):
        if run.iteration == self.at:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise Interrupted(run.iteration)

    def on_batch_end(self, run):
        if not self.at_epoch_end:
            self._maybe_stop(run)

    def on_epoch_end(self, run):
        if self.at_epoch_end:
            self._maybe_stop(run)


class Interrupted(Exception):
    pass


class CountSteps(Callback):
    def __init__(self):
        self.steps = 0

    def on_batch_end(self, run):
        self.steps += 1


def _interrupted_then_resumed(path, at, at_epoch_end=False, **settings):
    with pytest.raises(Interrupted):
        _run(path, [Interrupt(at, at_epoch_end=at_epoch_end)], **settings)
    count = CountSteps()
    resumed = _run(path, [count], resume=True, **settings)
    return resumed, count.steps


# -- the subprocess killed mid-epoch ---------------------------------------------------------------
def test_a_killed_process_resumes_bit_for_bit(tmp_path):
    """SIGKILL right after the checkpoint of iteration 18 (epoch 2, step 5 of 13), then a fresh
    fit with resume=True: the same History, weights, running statistics, Adam moments and rng
    states as a run never stopped."""
    whole = _state(*_run(tmp_path / "whole.npz"))
    path = tmp_path / "killed.npz"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            f"from test_resume import _run, Interrupt\n"
            f"_run({str(path)!r}, [Interrupt(18, how='kill')])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    _, extra = io.load(path, with_extra=True)
    assert (extra["iteration"], extra["resume"]["epoch"], extra["resume"]["step"]) == (18, 2, 5)
    count = CountSteps()
    resumed = _state(*_run(path, [count], resume=True))
    assert count.steps == 3 * 13 - 18  # continued, not started afresh
    _assert_same(resumed, whole)
    _assert_same(io.read(path).params, io.read(tmp_path / "whole.npz").params)


# -- in-process interruptions at every kind of point -----------------------------------------------
@pytest.mark.parametrize("at, at_epoch_end, settings", [
    (6, False, {}),                                       # the first write, in epoch 1
    (24, False, {"keep": "best"}),                        # keep="best": the file holds the best
    (13, True, {}),                                       # right after an epoch-end write
    (26, True, {"checkpoint_every": 13, "keep": "best"}),  # a write due at an epoch's last step
    (20, False, {"schedule": StepSchedule([(0, 2e-2), (19, 5e-3), (30, 1e-3)])}),
    (20, False, {"schedule": StepSchedule([(0, 2e-2), (1, 5e-3), (2, 1e-3)], unit="epoch")}),
    (9, False, {"checkpoint_every": None, "checkpoint_seconds": 0}),  # a write after every step
    (17, False, {"drop_last": True, "keep": None, "eval_every": None}),
])
def test_interrupted_run_resumes_bit_for_bit(tmp_path, at, at_epoch_end, settings):
    whole = _state(*_run(tmp_path / "whole.npz", **settings))
    (resumed, steps) = _interrupted_then_resumed(tmp_path / "run.npz", at, at_epoch_end,
                                                 **settings)
    _assert_same(_state(*resumed), whole)
    assert steps < 39


@pytest.mark.parametrize("settings, writes", [
    ({"checkpoint_every": 6}, [6, 12, "13 end", 18, 24, "26 end", 30, 36, "39 end"]),
    ({"checkpoint_every": 13}, ["13 end", "26 end", "39 end"]),  # due on a last step: at the end
    ({"checkpoint_every": None, "keep": "best", "epochs": 6}, None),  # at improvements only
])
def test_when_checkpoints_are_written(tmp_path, monkeypatch, settings, writes):
    seen = []
    save = io.save

    def spy(model, path, extra=None, weights=None):
        resume = extra["resume"]
        seen.append(extra["iteration"] if resume["perm"] is not None else
                    f"{extra['iteration']} end")
        return save(model, path, extra=extra, weights=weights)

    monkeypatch.setattr(io, "save", spy)
    hist = _run(tmp_path / "run.npz", **settings)[0]
    if writes is None:
        acc = hist.val_metric
        writes = [f"{13 * e} end" for e in range(1, 7) if acc[e - 1] > max(acc[:e - 1], default=-1)]
        assert 1 < len(writes) < 6  # some epochs improved and some did not
    assert seen == writes


def test_keep_best_resumed_returns_the_best_and_the_file_holds_it(tmp_path):
    whole_hist, whole_model, _, _ = _run(tmp_path / "whole.npz", keep="best", epochs=5)
    (hist, model, _, _), _ = _interrupted_then_resumed(tmp_path / "run.npz", 47, keep="best",
                                                       epochs=5)
    assert hist.best_epoch == whole_hist.best_epoch == 1 + int(np.argmax(hist.val_metric))
    assert hist.best_epoch < 5  # the returned weights are not the last ones
    saved = io.load(tmp_path / "run.npz")
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, whole_model.params[k])
        np.testing.assert_array_equal(saved.params[k], v)


def test_resume_extends_a_finished_run_and_says_so(tmp_path, capsys):
    whole = _state(*_run(tmp_path / "whole.npz", epochs=4))
    _run(tmp_path / "run.npz", epochs=2)
    resumed = _run(tmp_path / "run.npz", epochs=4, resume=True, verbose=True)
    _assert_same(_state(*resumed), whole)
    out = capsys.readouterr().out.splitlines()
    path = tmp_path / "run.npz"
    assert out[0] == f"fit: resumed from {path} at the end of epoch 2 (iteration 26)"
    assert [line.split()[1] for line in out[1:]] == ["3/4", "4/4"]


def test_resume_without_a_file_starts_afresh(tmp_path):
    whole = _state(*_run(tmp_path / "whole.npz"))
    _assert_same(_state(*_run(tmp_path / "new.npz", resume=True)), whole)


# -- a checkpoint of another run is refused, and changes nothing -----------------------------------
@pytest.mark.parametrize("settings, pattern", [
    ({"width": 8}, r"holds another architecture than the model \(file vs model, first difference "
                   r"at model\.layers\[0\]\.config\.out_features: 16 vs 8\)"),
    ({"batch_size": 32}, r"written by another run \(batch_size: 16 in the file, 32 now\)"),
    ({"metric": None}, r"metric: 'accuracy' in the file, None now"),
    ({"schedule": StepSchedule([(0, 1e-2)])}, r"schedules: \[\] in the file, "),
    ({"keep": None}, r"callbacks: \['KeepLast'\] in the file, \[\] now"),
    ({"epochs": 1}, r"it has finished 2 epochs, more than epochs=1; pass epochs >= 2"),
])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, settings, pattern):
    path = tmp_path / "run.npz"
    _run(path, epochs=2)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=rf"fit: cannot resume from .*run\.npz: .*{pattern}"):
        _run(path, resume=True, **{"epochs": 2, **settings})
    assert path.read_bytes() == before


def test_other_data_and_a_plain_model_file_are_refused(tmp_path):
    path = tmp_path / "run.npz"
    _run(path, epochs=1)
    model, opt = _model(), None
    opt = Adam(model, lr=2e-2)
    start = {k: v.copy() for k, v in model.params.items()}
    X2 = X.copy()
    X2[0, 0] += 1
    with pytest.raises(ValueError, match=r"another run \(data: \{'shapes'.*'crc32': \[\d+, \d+\]\} "
                                         r"in the file, .* now\)\. Resume with the settings that "
                                         r"wrote it, or start afresh with resume=False"):
        fit(model, X2, Y, "softmax_cross_entropy", opt, 1, BATCH, validation=VALIDATION,
            metric="accuracy", eval_every=5, rng=7, verbose=False, checkpoint=path,
            checkpoint_every=6, resume=True)
    for k, v in model.params.items():  # refused before anything changed
        np.testing.assert_array_equal(v, start[k])
    assert opt.t == 0
    io.save(model, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match=r"plain\.npz: it holds no resume state of format 1 \(a "
                                         r"model saved by slaf_np\.nn\.io\.save"):
        _run(tmp_path / "plain.npz", resume=True)


def test_resume_and_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"fit: resume=True needs checkpoint=PATH"):
        _run(None, resume=True, checkpoint_every=None)
    with pytest.raises(ValueError, match=r"fit: checkpoint_every / checkpoint_seconds need "
                                         r"checkpoint=PATH"):
        _run(None)
    with pytest.raises(ValueError, match=r"fit: checkpoint_every must be an integer >= 1, got 0"):
        _run(tmp_path / "a.npz", checkpoint_every=0)
    with pytest.raises(ValueError, match=r"fit: checkpoint_seconds must be in \[0\.0, inf\), "
                                         r"got -1"):
        _run(tmp_path / "a.npz", checkpoint_seconds=-1)
    with pytest.raises(ValueError, match=r"fit: more than one Checkpoint \(from checkpoint= and "
                                         r"callbacks\); pass checkpoint=None"):
        _run(tmp_path / "a.npz", [Checkpoint(tmp_path / "b.npz")])
    with pytest.raises(ValueError, match=r"fit: more than one KeepLast"):
        _run(tmp_path / "a.npz", [KeepBest()])
    with pytest.raises(TypeError, match=r"fit: callbacks must hold Callback objects or "
                                        r"functions f\(info\), got int"):
        _run(tmp_path / "a.npz", [3])


# -- the divergence guard with mid-epoch checkpoints -----------------------------------------------
def test_divergence_restores_the_last_checkpoint_which_stays_on_disk(tmp_path):
    calls = []

    def flaky(pred, target):
        calls.append(1)
        return (float("nan"), pred) if len(calls) == 22 else softmax_cross_entropy(pred, target)

    path = tmp_path / "run.npz"
    model = _model()
    with pytest.raises(TrainingDivergedError,
                       match=r"epoch 2/3, step 9/13 \(iteration 22\): loss nan; weights restored "
                             r"to the checkpoint of iteration 18; checkpoint .*run\.npz holds the "
                             r"last good weights"):
        fit(model, X, Y, flaky, Adam(model, lr=2e-2), EPOCHS, BATCH, rng=7, verbose=False,
            checkpoint=path, checkpoint_every=6)
    saved, extra = io.load(path, with_extra=True)
    assert extra["iteration"] == 18
    for kind in ("params", "buffers"):
        for k, v in getattr(model, kind).items():
            np.testing.assert_array_equal(v, getattr(saved, kind)[k])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_non_finite_weight_with_a_finite_loss_is_never_written(tmp_path):
    """A penalty that puts inf into a gradient at iteration 12: the loss of that step is finite,
    the checkpoint write after it finds the inf, and the file keeps iteration 6."""
    calls = []

    def poison(model):
        calls.append(1)
        if len(calls) == 12:
            model.grads["0.b"][0] = np.inf

    path = tmp_path / "run.npz"
    model = _model()
    with pytest.raises(TrainingDivergedError,
                       match=r"step 12/13 \(iteration 12\): a weight or running statistic became "
                             r"non-finite; weights restored to the checkpoint of iteration 6"):
        fit(model, X, Y, "softmax_cross_entropy", Adam(model, lr=2e-2), EPOCHS, BATCH, rng=7,
            verbose=False, checkpoint=path, checkpoint_every=6, penalty=poison)
    saved, extra = io.load(path, with_extra=True)
    assert extra["iteration"] == 6
    assert all(np.isfinite(v).all() for v in saved.params.values())
    assert all(np.isfinite(v).all() for v in model.params.values())


# -- the callbacks that fit's keywords build -------------------------------------------------------
def test_explicit_callbacks_equal_the_keywords_bit_for_bit(tmp_path, capsys):
    schedule = StepSchedule([(0, 2e-2), (15, 5e-3)])
    by_keywords = _run(tmp_path / "a.npz", schedule=schedule, keep="best", verbose=True)
    lines_a = capsys.readouterr().out.splitlines()
    by_callbacks = _run(None, [Schedule(schedule), EvalEvery(5), KeepBest(),
                               Checkpoint(tmp_path / "b.npz", every=6), Progress()],
                        keep=None, eval_every=None, checkpoint_every=None)
    lines_b = capsys.readouterr().out.splitlines()
    _assert_same(_state(*by_callbacks), _state(*by_keywords))
    assert [line.rsplit(" ", 1)[0] for line in lines_a] == \
        [line.rsplit(" ", 1)[0] for line in lines_b]  # equal but for the seconds
    assert len(lines_a) == EPOCHS
    a, b = io.read(tmp_path / "a.npz"), io.read(tmp_path / "b.npz")
    _assert_same(a.params, b.params)
    _assert_same(a.extra["resume"]["rngs"], b.extra["resume"]["rngs"])


def test_a_callback_object_sees_every_hook_in_order(tmp_path):
    seen = []

    class Spy(Callback):
        def on_train_begin(self, run):
            seen.append("train")

        def on_epoch_begin(self, run):
            seen.append(f"e{run.epoch}")

        def on_batch_begin(self, run):
            seen.append(f"b{run.iteration + 1}")

        def on_batch_end(self, run):
            seen.append(f"/b{run.iteration}")

        def on_epoch_end(self, run):
            seen.append(f"/e{run.epoch}")
            run.stop = run.epoch == 2

        def on_train_end(self, run):
            seen.append("/train")

    X4, y4 = X[:40], Y[:40]
    model = _model()
    hist = fit(model, X4, y4, "softmax_cross_entropy", Adam(model), epochs=5, batch_size=16,
               rng=0, verbose=False, callbacks=[Spy()])
    assert seen == ["train", "e1", "b1", "/b1", "b2", "/b2", "b3", "/b3", "/e1",
                    "e2", "b4", "/b4", "b5", "/b5", "b6", "/b6", "/e2", "/train"]
    assert len(hist.train_loss) == 2


def test_layer_generators_are_found_in_nested_containers():
    shared = np.random.default_rng(0)
    model = Sequential(Dense(2, 4, rng=0), Dropout(0.5, rng=shared),
                       Residual(Dense(4, 4, rng=1), Dropout(0.1, rng=1)))
    gens = layer_generators(model)
    assert list(gens) == ["1.rng", "2.0.1.rng"]
    assert gens["1.rng"] is shared
