r"""Tutorial 3: fitting SLAF polynomials to ReLU, tanh and sigmoid, and converting a ReLU network.

Two claims of the paper (docs/paper.md section 1):

* Claim 1: with a polynomial basis, a SLAF can approximate the usual activations (ReLU, tanh,
  sigmoid, ...). On a bounded interval this is Weierstrass's theorem, and the rate is classical:
  for an L-Lipschitz function on [-a, a], the best polynomial of degree n is within

      E_n(f) <= (pi / 2) L a / (n + 1)            (Jackson's theorem)

  in the sup norm. ReLU, with its kink, is close to that rate (Bernstein: n E_n(|x|) -> 0.2802 on
  [-1, 1]); tanh and sigmoid are analytic near the real axis and their errors fall geometrically.
* Claim 2 (universality): replace every activation of a trained network by a polynomial that is
  uniformly close to it on the range its pre-activations actually take, and the SLNN you get is
  uniformly close to the network. Layer by layer, with e_l the sup-norm error after layer l and
  delta_l the fit error of layer l,

      e_l <= L ||W_l||_inf e_(l-1) + delta_l,      |N(x) - N^(x)| <= ||W_out||_inf e_L,

  where ||W||_inf = max_j sum_i |W_ij| for our (in, out) weight arrays and L = 1 for ReLU. This
  holds as long as the SLNN's pre-activations stay inside the fitted intervals.

This script:

1. fits polynomials of degree 2, 4, 8, 16 to ReLU, tanh and sigmoid on [-3, 3]
   (``slaf_np.approx.fit_activation``) and prints the sup and RMS errors next to the Jackson
   bound;
2. builds ``SLAF(1, k, init="relu")`` layers and compares them with ReLU on standard-normal
   inputs, including what happens in the tails and under batch statistics;
3. trains a small ReLU network, measures the range of every pre-activation, replaces each ReLU by
   a SLAF fitted on those ranges (``slaf_np.SLAF.fit_to``) and reports how close the
   SLNN's outputs are to the network's, next to the bound above; draws the SLAFs with
   ``slaf_np.plotting.plot_activations``.

Every number printed is computed by the script. Run it with::

    python tutorials/03_fitting_activations.py [--quick] [--out DIR]

``--quick`` (or ``SLAF_TUTORIAL_QUICK=1``) trains the ReLU network briefly (a few seconds). The
two figures go to ``DIR`` (default ``$SLAF_TUTORIAL_OUT`` or ``tutorials/out/``).
"""

# %% [markdown]
# ## Set-up

# %%
import argparse
import os
from pathlib import Path

import numpy as np

import slaf_np as sn
from slaf_np.approx import (
    ACTIVATIONS,
    BERNSTEIN_CONSTANT,
    fit_activation,
    jackson_bound,
)
from slaf_np.datasets import smooth_regression
from slaf_np.plotting import plot_activations
from slaf_np.polynomial import degree_bound

parser = argparse.ArgumentParser(description="Tutorial 3: fitting activations with SLAF.")
parser.add_argument("--quick", action="store_true", help="a short training (a few seconds)")
parser.add_argument("--out", default=None, help="folder for the figures (default tutorials/out)")
args, _ = parser.parse_known_args()  # known args only: also runs cell by cell in IPython
QUICK = args.quick or os.environ.get("SLAF_TUTORIAL_QUICK", "0") not in ("", "0")
OUT = Path(args.out or os.environ.get("SLAF_TUTORIAL_OUT") or Path(__file__).parent / "out")

SEED = 0
TARGETS = ("relu", "tanh", "sigmoid")
FIT_DEGREES = (2, 4, 8, 16)
A = 3.0                                    # fit on [-A, A]
N_TRAIN, N_TEST, EPOCHS = (500, 500, 5) if QUICK else (4000, 2000, 60)
WIDTH = 16
CONVERT_DEGREES = (2, 4, 8, 16)
MARGIN = 0.05                              # pad each measured range by 5 % of its width per side

rng = np.random.default_rng(SEED)
np.set_printoptions(precision=4, suppress=True, linewidth=100)

# %% [markdown]
# ## 1. Polynomial fits and the Jackson bound
#
# ``fit_activation`` does a least-squares fit at Chebyshev nodes of the interval, in the
# Chebyshev basis of the rescaled variable t = z / 3 (well conditioned; the fitted polynomial
# is the same in any basis), which is within a factor O(log n) of the best uniform fit. The sup
# error is measured on 20,001 points of the interval (and at the kink), the RMS error by
# quadrature.

# %%
print(f"fits on [-{A:g}, {A:g}]")
print("  target    degree   sup error    RMS error   Jackson bound   sup / bound")
fits = {}
for name in TARGETS:
    L = ACTIVATIONS[name].lipschitz
    for k in FIT_DEGREES:
        fit = fit_activation(name, k, interval=(-A, A))
        bound = jackson_bound(L, A, k)
        fits[name, k] = fit
        print(f"  {name:8s}  {k:6d}  {fit.sup_error:10.3e}  {fit.l2_error:11.3e}  {bound:14.3e}"
              f"  {fit.sup_error / bound:11.3f}")
k_max = FIT_DEGREES[-1]
print(f"ReLU at degree {k_max}: sup error {fits['relu', k_max].sup_error:.4f}; Bernstein's "
      f"asymptotic best error a 0.2802 / (2n) = {A * BERNSTEIN_CONSTANT / (2 * k_max):.4f} "
      f"(ReLU = (x + |x|) / 2)")

# %% [markdown]
# Every fit is below the Jackson bound, which is a worst case over all Lipschitz functions. ReLU's
# error follows the bound's 1/(n + 1) rate (its sup / bound column stays put: the kink allows no
# better rate), within a factor of about 2 of the best possible error; tanh and sigmoid gain
# orders of magnitude with each doubling (sigmoid is also 4 times flatter, L = 1/4).
#
# ## 2. A SLAF initialised as ReLU
#
# ``SLAF(D, k, init="relu")`` chooses c and b by a least-squares fit of max(z, 0) weighted by the
# standard normal density, for the layer as it is at initialisation in evaluation mode (running
# mean 0, running variance 1, so P^_i = z^i / sqrt(1 + eps)). On standard-normal inputs it should
# then be close to ReLU where the inputs mostly are, and wrong where they rarely go: a polynomial
# of degree k grows like |z|^k.

# %%
z = rng.standard_normal((20_000 if QUICK else 200_000, 1))
relu_z = np.maximum(z, 0.0)
core, tail = np.abs(z[:, 0]) <= 2, np.abs(z[:, 0]) > 3
print(f"\nSLAF(1, k, init='relu') vs ReLU on {len(z):,} samples of N(0, 1) "
      f"({tail.mean():.2%} of them with |z| > 3)")
print("  k   RMS error   max error |z|<=2   max error |z|>3   RMS error, training mode")
for k in (2, 4, 6, 8):
    layer = sn.SLAF(1, k, init="relu", dtype=np.float64)
    err = np.abs(layer.forward(z, training=False) - relu_z)[:, 0]
    # The same layer in training mode standardises with the statistics of this batch instead of
    # the running ones (0 and 1) its coefficients were fitted for.
    err_train = np.abs(layer.forward(z, training=True) - relu_z)[:, 0]
    print(f"  {k}  {np.sqrt(np.mean(err ** 2)):10.4f}  {err[core].max():17.4f}  "
          f"{err[tail].max():16.4f}  {np.sqrt(np.mean(err_train ** 2)):24.4f}")

# %% [markdown]
# In evaluation mode the RMS error falls with the degree, while the error in the tails stays
# large (units, where ReLU itself is 3 to 4): the fit spends its accuracy where the normal density
# is and does not control the polynomial beyond. The last column is the warning: the
# fit is tied to the running statistics at their initial values. Under the batch statistics of a
# training step (or after ``recalibrate``, which sets the running statistics to the data's) the
# same coefficients multiply differently standardised terms (E[z^2] = 1, Var[z^4] = 96 for
# N(0, 1)), and the layer is no longer ReLU-like; training will have to pull it back.
#
# ## 3. Converting a trained ReLU network into an SLNN
#
# A 2-16-16-1 ReLU network trained on the same task as tutorial 2 (x in [-2, 2]^2,
# y = sin x_1 + sin x_2 + 0.5 exp(-|x|^2 / 2)), float64 throughout.

# %%
Xtr, ytr = smooth_regression(N_TRAIN, 2, rng)
Xte, yte = smooth_regression(N_TEST, 2, rng)
net = sn.Sequential(sn.Dense(2, WIDTH, rng=rng, dtype=np.float64), sn.ReLU(),
                    sn.Dense(WIDTH, WIDTH, rng=rng, dtype=np.float64), sn.ReLU(),
                    sn.Dense(WIDTH, 1, rng=rng, dtype=np.float64))
sn.fit(net, Xtr, ytr, "mse", sn.Adam(net, lr=1e-2), epochs=EPOCHS, batch_size=64, rng=rng,
       verbose=False)
_, net_rmse = sn.evaluate(net, Xte, yte, "mse", "rmse")
print(f"\nReLU network 2-{WIDTH}-{WIDTH}-1, {EPOCHS} epochs on {N_TRAIN} points: "
      f"test RMSE {net_rmse:.4f}")

# %% [markdown]
# **Measure the ranges.** One forward pass over the training inputs, layer by layer, recording
# the per-neuron min and max of the input of every ReLU. Each interval is padded by 5 % of its
# width per side: the test inputs, and the SLNN's own slightly different pre-activations, may
# step a little outside what the training set showed.

# %%
intervals = {}                                # ReLU's index in net.layers -> (D, 2) intervals
h = Xtr
for i, layer in enumerate(net.layers):
    if isinstance(layer, sn.ReLU):
        lo, hi = h.min(axis=0), h.max(axis=0)
        pad = MARGIN * (hi - lo)
        intervals[i] = np.stack([lo - pad, hi + pad], axis=1)
        print(f"layer {i} (ReLU): pre-activations in [{lo.min():.2f}, {hi.max():.2f}]; "
              f"per-neuron widths {np.round(hi - lo, 1)}")
    h = layer.forward(h)

# %% [markdown]
# **Replace and compare.** For each ReLU, ``SLAF.fit_to`` fits every neuron's ReLU on its own
# interval (same fit as part 1) and returns an evaluation-mode SLAF in the paper's form (power
# basis, per-power standardisation: the running statistics are set to the moments of z^i for z
# uniform on the interval, and c, b absorb them). Everything else of the network is kept. For each
# degree we print: the fit errors delta_l (max over the neurons of a layer), the measured error
# of the SLNN against the network on the test inputs, the a-priori bound, and whether every SLNN
# pre-activation stayed inside its interval (the bound's assumption).


# %%
def inf_norm(W: np.ndarray) -> float:
    """||W||_inf of the map v -> v W: the max absolute column sum of the (in, out) array."""
    return float(np.abs(W).sum(axis=0).max())


def convert(net, intervals, k):
    """The SLNN: each ReLU replaced by a fitted SLAF; returns (slnn, delta per ReLU layer)."""
    layers, deltas = list(net.layers), []
    for i, iv in intervals.items():
        slaf, layer_fits = sn.SLAF.fit_to("relu", len(iv), k, iv, basis="power",
                                          normalize=True, dtype=np.float64, return_fits=True)
        layers[i] = slaf
        deltas.append(max(f.sup_error for f in layer_fits))
    return sn.Sequential(*layers), deltas


def in_range(slnn, intervals, X) -> bool:
    """Whether every SLAF input of the SLNN on X lies inside the interval it was fitted on."""
    h, ok = X, True
    for i, layer in enumerate(slnn.layers):
        if i in intervals:
            ok &= bool(((h >= intervals[i][:, 0]) & (h <= intervals[i][:, 1])).all())
        h = layer.forward(h)
    return ok


norms = [inf_norm(layer.params["W"]) for layer in net.layers if isinstance(layer, sn.Dense)]
print(f"\n||W_l||_inf of the three Dense layers: {np.round(norms, 3)}")
out_net = net.forward(Xte)[:, 0]
print("  degree   delta_1   delta_2   max |N - SLNN|   RMS |N - SLNN|   bound     in range"
      "   SLNN test RMSE")
slnns = {}
for k in CONVERT_DEGREES:
    slnn, deltas = convert(net, intervals, k)
    slnns[k] = slnn
    diff = np.abs(slnn.forward(Xte)[:, 0] - out_net)
    e = 0.0                                   # e_l <= ||W_l|| e_(l-1) + delta_l, e_0 = 0
    for norm, delta in zip(norms[:-1], deltas, strict=True):
        e = norm * e + delta
    bound = norms[-1] * e
    _, slnn_rmse = sn.evaluate(slnn, Xte, yte, "mse", "rmse")
    inside = in_range(slnn, intervals, Xte)
    print(f"  {k:6d}  {deltas[0]:8.4f}  {deltas[1]:8.4f}  {diff.max():15.4f}  "
          f"{np.sqrt(np.mean(diff ** 2)):15.4f}  {bound:8.3f}  {str(inside):>8s}  "
          f"{slnn_rmse:15.4f}")
# (the first Dense multiplies the exact input, so its norm does not enter: e_1 = delta_1)

# %% [markdown]
# The measured error falls with the degree and stays far below the bound: the bound assumes
# every neuron's error is at its worst, with the same sign, at the same input, and that the
# weights add them all up; in a real network the fit errors (which oscillate in sign along each
# interval) mostly cancel. At the highest degree the SLNN is about as good a model of the task as
# the ReLU network it was made from (compare the last column with the network's test RMSE).
#
# The converted SLNN is a polynomial of its input (tutorial 2), and an SLNN in the paper's form.
# It is fixed in evaluation mode, though: its running
# statistics describe uniform inputs on the intervals, not the data, so ``recalibrate`` (or
# training with batch statistics) changes the function it computes:

# %%
k_show = CONVERT_DEGREES[-2]
slnn = slnns[k_show]
print(f"\nthe degree-{k_show} SLNN is a polynomial of x of degree <= "
      f"{degree_bound(slnn)} = {k_show} x {k_show}")
before = np.abs(slnn.forward(Xte)[:, 0] - out_net).max()
recalibrated, _ = convert(net, intervals, k_show)
sn.recalibrate(recalibrated, Xtr)
after = np.abs(recalibrated.forward(Xte)[:, 0] - out_net).max()
print(f"degree {k_show}: max |N - SLNN| {before:.4f} as built, {after:.4f} after recalibrate "
      f"on the training inputs")

# %% [markdown]
# ## The figures
#
# (1) The fitted polynomials of part 1 beside their targets, with the error against the degree.
# (2) The SLAFs of the converted network (degree ``k_show``) over the range of their inputs, one
# thin line per neuron (each a ReLU fitted on its own interval), from
# ``slaf_np.plotting.plot_activations``.

# %%
from matplotlib.figure import Figure  # noqa: E402  (only the figures need matplotlib)

from slaf_np.utils import save_figure  # noqa: E402

fig = Figure(figsize=(13.0, 3.4), layout="constrained")
axes = fig.subplots(1, len(TARGETS) + 1)
grid = np.linspace(-A, A, 601)
for ax, name in zip(axes, TARGETS, strict=False):
    ax.plot(grid, ACTIVATIONS[name](grid), "k", lw=2.5, alpha=0.4, label=name)
    for k in FIT_DEGREES:
        ax.plot(grid, fits[name, k](grid), lw=1, label=f"degree {k}")
    ax.set_title(f"{name} on [-{A:g}, {A:g}]", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
ax = axes[-1]
for j, name in enumerate(TARGETS):
    ax.semilogy(FIT_DEGREES, [fits[name, k].sup_error for k in FIT_DEGREES], "o-",
                color=f"C{j}", label=f"{name}: sup error")
    ax.semilogy(FIT_DEGREES, [jackson_bound(ACTIVATIONS[name].lipschitz, A, k)
                              for k in FIT_DEGREES], ":", color=f"C{j}", label=f"{name}: Jackson")
ax.set_xlabel("degree")
ax.set_title("sup error vs degree", fontsize=9)
ax.legend(fontsize=7)
ax.grid(alpha=0.3, which="both")
path = save_figure(fig, OUT / "03_fits.png")
print(f"\nfigures: {path}")

fig = plot_activations(slnn, Xtr)
# plot_activations also draws the mean over the neurons (bold) on the layer's whole range, where
# most neurons' polynomials are outside the interval they were fitted on and grow like |z|^k.
# Here that mean means nothing, so we remove it, make the per-neuron curves (each drawn on its
# own range only) more visible and add ReLU for reference.
for ax in fig.axes:
    if not ax.get_visible() or not ax.lines:
        continue
    ax.lines[-1].remove()                         # the mean over the neurons
    for line in ax.lines:
        line.set_alpha(0.8)
    ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines])
    lo, hi = np.nanmin(ys), np.nanmax(ys)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    zz = np.asarray(ax.lines[0].get_xdata(), float)
    ax.plot(zz, np.maximum(zz, 0.0), ":", color="0.3", lw=1.5, label="ReLU")
    ax.legend(fontsize=7, loc="upper left")
path = save_figure(fig, OUT / "03_converted_slafs.png")
print(f"         {path}")
