"""The progress callback: one clean line per epoch with the run's ETA, and a tqdm bar during the
epoch that leaves no trace in the output (checked on a captured stream, as a log file sees it).
The other callbacks are tested through ``fit`` in test_train.py and test_resume.py."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from slaf_np.nn import Dense, Sequential, Tanh
from slaf_np.train import TrainingDivergedError, fit
from slaf_np.train.callbacks import Progress, _duration
from slaf_np.train.history import History
from slaf_np.train.optim import SGD

EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+)  loss \S+  lr \S+  \d+\.\ds(  eta \d\S*)?$")


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return X, (X[:, :1] - X[:, 1:]).astype(np.float32)


def _net(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Dense(2, 8, rng=rng), Tanh(), Dense(8, 1, rng=rng))


def _screen(out: str) -> list[str]:
    """What a terminal shows: in each line, the text after its last carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in out.split("\n")]


def test_verbose_fit_prints_one_line_per_epoch_with_the_runs_eta(capsys):
    X, y = _data()
    model = _net()
    fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=3, batch_size=16, rng=0)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "\r" not in out and len(lines) == 3     # stdout is not a terminal: no bar
    for k, line in enumerate(lines, 1):
        match = EPOCH_LINE.match(line)
        assert match, line
        assert match.group(1, 2) == (str(k), "3")
        assert (match.group(3) is None) == (k == 3)  # no ETA after the last epoch


def test_a_bar_on_a_captured_stream_leaves_one_clean_line_per_epoch(capsys):
    X, y = _data()
    model = _net()
    fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=3, batch_size=16, rng=0, verbose=False,
        callbacks=[Progress(bar=True)])
    out = capsys.readouterr().out
    assert "epoch 2/3: " in out and "/4 [" in out  # the bar was drawn: description, steps
    screen = _screen(out)
    assert screen[-1] == ""                        # the output ends with a newline
    assert len(screen) == 4
    for k, line in enumerate(screen[:3], 1):       # nothing of the bar left on the line
        assert EPOCH_LINE.match(line) and line.startswith(f"epoch {k}/3  loss "), repr(line)


def test_bar_false_draws_nothing(capsys):
    X, y = _data()
    model = _net()
    fit(model, X, y, "mse", SGD(model, lr=0.1), epochs=2, batch_size=16, rng=0, verbose=False,
        callbacks=[Progress(bar=False)])
    out = capsys.readouterr().out
    assert "\r" not in out and len(out.splitlines()) == 2


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_divergence_removes_the_bar(capsys):
    X, y = _data()
    model = _net()
    progress = Progress(bar=True)         # held here, so only the callback can close its bar
    with pytest.raises(TrainingDivergedError):
        fit(model, X, y, "mse", SGD(model, lr=1e10), epochs=3, batch_size=16, rng=0,
            verbose=False, callbacks=[progress])
    out = capsys.readouterr().out
    assert "epoch 1/3: " in out                   # a bar was drawn ...
    assert _screen(out)[-1].strip() == ""         # ... and its line cleared


def test_the_eta_is_the_median_epoch_time_times_the_epochs_left(capsys):
    """The first epoch pays for numba's compilation: a mean would say 28 s, not 2 s."""
    history = History()
    history.train_loss, history.seconds = [1.0, 0.5, 0.25], [40.0, 1.0, 1.0]
    run = SimpleNamespace(epoch=3, epochs=5, history=history, metric=None, validation=None,
                          optimizer=SimpleNamespace(current_lr=0.1))
    progress = Progress(bar=False)
    progress.on_train_begin(run)
    progress.on_epoch_end(run)
    assert capsys.readouterr().out == "epoch 3/5  loss 0.25  lr 0.1  1.0s  eta 2s\n"


@pytest.mark.parametrize("seconds, text", [(0.4, "0s"), (45, "45s"), (59.6, "1m00s"),
                                           (80, "1m20s"), (3725, "1h02m")])
def test_durations(seconds, text):
    assert _duration(seconds) == text


def test_a_bar_resumed_mid_epoch_starts_at_the_steps_done(capsys):
    run = SimpleNamespace(epoch=2, epochs=3, step=3, n_steps=5)
    progress = Progress(bar=True)
    progress.on_train_begin(run)
    progress.on_batch_begin(run)
    assert progress.pbar.n == 3 and progress.pbar.total == 5
    progress.on_train_end(run)
    assert progress.pbar is None
