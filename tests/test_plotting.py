"""plot_activations: runs headless, writes a PNG atomically, leaves pyplot alone."""

import numpy as np
import pytest

from slaf_np.nn import Dense, ReLU, SampleMaxScale, Sequential
from slaf_np.nn.slaf import SLAF
from slaf_np.plotting import plot_activations, slaf_input_ranges

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _model():
    return Sequential(Dense(2, 6, rng=0, dtype=np.float64), SLAF(6, 4, rng=1, dtype=np.float64),
                      Dense(6, 4, rng=2, dtype=np.float64), SampleMaxScale(dtype=np.float64),
                      SLAF(4, 8, basis="fourier", rng=3, dtype=np.float64))


def test_plot_with_data_writes_a_png(tmp_path):
    import matplotlib.pyplot as plt

    figs_before = plt.get_fignums()
    model = _model()
    X = np.random.default_rng(0).standard_normal((100, 2))
    path = tmp_path / "sub" / "act.png"
    fig = plot_activations(model, X, path=path, n_points=50)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["act.png"]     # no temporary left
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert len(axes[0].lines) == 6 + 1 and len(axes[1].lines) == 4 + 1   # features + mean
    assert plt.get_fignums() == figs_before                              # pyplot untouched
    ranges = slaf_input_ranges(model, X, batch_size=30)
    z = model.layers[0].forward(X)
    lo, hi = ranges[id(model.layers[1])]
    np.testing.assert_array_equal(lo, z.min(axis=0))
    np.testing.assert_array_equal(hi, z.max(axis=0))
    xh = model.layers[3].forward(model.layers[2].forward(model.layers[1].forward(z)))
    lo, hi = ranges[id(model.layers[4])]                   # the SLAF's own (scaled) input
    np.testing.assert_array_equal(hi, xh.max(axis=0))
    assert np.abs(lo).max() < 0.5 and np.abs(hi).max() < 0.5
    assert "forward" not in vars(model.layers[1])
    x = axes[0].lines[-1].get_xdata()                      # the panel spans the data's range
    assert x[0] == pytest.approx(z.min()) and x[-1] == pytest.approx(z.max())


def test_plot_without_data():
    """Without X every panel spans [-3, 3], and says so; the curves are the layer's activation."""
    layer = SLAF(3, 2, rng=0)
    layer.forward(np.linspace(-1, 2, 30, dtype=np.float32).reshape(10, 3), training=True)
    fig = plot_activations(layer, n_points=20)
    assert "no data" in fig.axes[0].get_title()
    x = fig.axes[0].lines[0].get_xdata()
    np.testing.assert_allclose(x[[0, -1]], [-3, 3])
    assert len(x) == 20
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), layer.activation(x)[:, 0],
                               rtol=1e-6)


def test_plot_errors():
    with pytest.raises(ValueError, match="no SLAF layer"):
        plot_activations(Sequential(Dense(2, 2), ReLU()))
    with pytest.raises(ValueError, match="n_points"):
        plot_activations(SLAF(2, 2), n_points=1)
