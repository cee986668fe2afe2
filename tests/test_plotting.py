"""plot_activations: runs headless, writes a PNG atomically, leaves pyplot alone, and draws the
histogram of the inputs each SLAF saw (counted batch by batch) without changing the model."""

import numpy as np
import pytest

from slaf_np.nn import BatchNorm, Dense, MaxScale, ReLU, SampleMaxScale, Sequential
from slaf_np.nn.slaf import SLAF
from slaf_np.plotting import plot_activations, slaf_input_histograms, slaf_input_ranges

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
    axes = fig.axes[:2]                                     # the panels; then their twins
    assert all(ax.get_visible() for ax in fig.axes) and len(fig.axes) == 2 + 2
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


def test_the_mean_curve_is_drawn_on_the_common_range_only():
    """The red line is the plain mean of the features' activations where every feature saw
    inputs and absent elsewhere (a mean over "the features that saw z" jumps where one enters
    or leaves)."""
    model = _model()
    X = np.random.default_rng(0).standard_normal((100, 2))
    fig = plot_activations(model, X, n_points=80)
    layer = model.layers[1]
    lo, hi = slaf_input_ranges(model, X)[id(layer)]
    assert lo.max() < hi.min() and (lo.min() < lo.max() or hi.min() < hi.max())
    z, mean = fig.axes[0].lines[-1].get_data()
    common = (z >= lo.max()) & (z <= hi.min())
    assert common.any() and not common.all()
    np.testing.assert_allclose(mean[common], layer.activation(z[common]).mean(axis=1))
    assert np.isnan(mean[~common]).all()


def test_many_features_are_thinned_and_disjoint_ranges_have_no_mean():
    model = _model()
    X = np.random.default_rng(0).standard_normal((100, 2))
    fig = plot_activations(model, X, n_points=40, max_curves=3)
    assert len(fig.axes[0].lines) == 3 + 1 and "3 of 6 features drawn" in fig.axes[0].get_title()
    assert len(fig.axes[1].lines) == 3 + 1 and "3 of 4 features drawn" in fig.axes[1].get_title()
    apart = Sequential(Dense(1, 2, rng=0, dtype=np.float64), SLAF(2, 2, rng=1, dtype=np.float64))
    apart.layers[0].params["W"][...] = 0.1
    apart.layers[0].params["b"][...] = [10.0, -10.0]      # features' inputs near +10 and -10
    fig = plot_activations(apart, X[:, :1], n_points=40)
    assert np.isnan(fig.axes[0].lines[-1].get_ydata()).all()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "mean over features: no common range" in labels
    with pytest.raises(ValueError, match="max_curves must be >= 1, got 0"):
        plot_activations(model, X, max_curves=0)


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


def _twins(fig):
    """The twin (histogram) axes of each panel: the axes sharing its x axis, itself excluded."""
    panels = [ax for ax in fig.axes if ax.lines]
    return [[t for t in ax.get_shared_x_axes().get_siblings(ax) if t is not ax] for ax in panels]


def test_histogram_counts_every_input_value_once():
    """Counted over batches of 30 (the last one partial), the histogram equals numpy's on the
    whole input of each layer (all features pooled), its edges span the layer's range, and the
    counts sum to N * D. Catches counts overwritten instead of added per batch, one feature
    instead of all, or bins that miss the extremes."""
    model = _model()
    X = np.random.default_rng(1).standard_normal((100, 2))
    hists = slaf_input_histograms(model, X, bins=7, batch_size=30)
    z1 = model.layers[0].forward(X)
    z2 = model.layers[3].forward(model.layers[2].forward(model.layers[1].forward(z1)))
    for layer, z in ((model.layers[1], z1), (model.layers[4], z2)):
        counts, edges = hists[id(layer)]
        assert counts.dtype == np.int64 and counts.shape == (7,) and edges.shape == (8,)
        assert counts.sum() == z.size
        assert edges[0] == z.min() and edges[-1] == z.max()
        np.testing.assert_array_equal(counts, np.histogram(z, edges)[0])


def test_histogram_of_a_conv_slaf_pools_channels_and_positions():
    layer = SLAF(3, 4, rng=0, dtype=np.float64)
    X = np.random.default_rng(2).standard_normal((5, 3, 4, 4))
    counts, edges = slaf_input_histograms(layer, X, bins=5, batch_size=2)[id(layer)]
    assert counts.sum() == X.size == 5 * 3 * 4 * 4
    np.testing.assert_array_equal(counts, np.histogram(X, edges)[0])


def test_histogram_is_drawn_under_the_curves_with_x_only():
    """With X: each panel has a twin y-axis whose bars are the histogram, labelled in the
    legend, with axis labels that say what is drawn. Without X: no twin axis, no bars."""
    model = _model()
    X = np.random.default_rng(0).standard_normal((100, 2))
    fig = plot_activations(model, X, n_points=30, bins=9)
    hists = slaf_input_histograms(model, X, bins=9)
    twins = _twins(fig)
    assert [len(t) for t in twins] == [1, 1]
    for ax, (hx,), layer in zip(fig.axes[:2], twins, (model.layers[1], model.layers[4]),
                                   strict=True):
        counts, edges = hists[id(layer)]
        assert len(hx.patches) == 9 and not hx.lines
        np.testing.assert_array_equal([p.get_height() for p in hx.patches], counts)
        np.testing.assert_allclose([p.get_x() for p in hx.patches], edges[:-1])
        assert hx.get_ylabel() == "count of input values"
        assert ax.get_xlabel() == "input of the layer"
        assert ax.get_ylabel().startswith("activation")
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "inputs seen (X)" in labels and "mean over features (common range)" in labels
        assert ax.get_zorder() > hx.get_zorder()            # the curves over the bars
    fig = plot_activations(model, n_points=30)
    assert _twins(fig) == [[], []] and len(fig.axes) == 2
    assert not any(ax.patches for ax in fig.axes)
    assert "inputs seen (X)" not in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_plot_with_data_changes_no_buffer_or_parameter():
    """The evaluation-mode prefix passes (ranges, then histograms) leave every running
    statistic (BatchNorm, MaxScale, SLAF) and parameter as it was, on a float32 model given
    NumPy's default float64 X."""
    model = Sequential(Dense(2, 5, rng=0), BatchNorm(5), MaxScale(5), SLAF(5, 3, rng=1),
                       Dense(5, 3, rng=2), SLAF(3, 4, rng=3))
    X = np.random.default_rng(3).standard_normal((64, 2))
    for start in range(0, 64, 16):                          # move the statistics off their init
        model.forward(X[start:start + 16].astype(np.float32), training=True)
    before = {k: v.copy() for k, v in {**model.buffers, **model.params}.items()}
    plot_activations(model, X, n_points=20)
    slaf_input_histograms(model, X)
    after = {**model.buffers, **model.params}
    assert before.keys() == after.keys()
    assert {"1.running_var", "2.running_max", "3.running_var", "5.running_mean"} <= set(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v, err_msg=k)
        assert after[k].dtype == np.float32


def test_histogram_errors():
    with pytest.raises(ValueError, match="bins must be >= 1, got 0"):
        slaf_input_histograms(SLAF(2, 2), np.zeros((3, 2)), bins=0)
    with pytest.raises(ValueError, match="bins must be >= 1, got 0"):
        plot_activations(SLAF(2, 2), bins=0)
