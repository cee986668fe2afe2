r"""Tutorial 2: a trained SLNN is a polynomial, and we can write it down.

Claim 3 of the paper (docs/paper.md section 1): a network whose activations are polynomial SLAFs of
degrees k_1, ..., k_L, with affine maps in between, computes a polynomial of its input of total
degree at most k_1 k_2 ... k_L (exactly that for generic weights). The reason is short: an affine
map of polynomials is a polynomial of the same degree, and a degree-k polynomial of a degree-K
polynomial has degree k K. In evaluation mode the SLAF's standardisation uses constant running
statistics, so

    SLAF(z) = sum_i c_i (z^i - mu_i) / sqrt(var_i + eps) + b

is itself a degree-k polynomial of z with ordinary coefficients, and the argument applies to the
deployed network.

So an SLNN is linear regression on polynomial features, in disguise: with d inputs and total
degree K it is one coefficient per monomial x_1^e_1 ... x_d^e_d with e_1 + ... + e_d <= K, and
there are C(d + K, K) of those. The SLNN parametrises them with far fewer numbers when d and K are
large (the paper's Boston network: 203,490 monomials, about 10,000 weights), and with more when
they are small (this tutorial's network).

This script:

1. trains a small SLNN 2-8-8-1 with SLAF degrees 2 and 3 on a smooth 2-d regression task with
   ``slaf_np.fit``, then recalibrates its running statistics (``slaf_np.recalibrate``);
2. expands it with ``slaf_np.expand``: degree (= 2 x 3 = 6), number of terms against C(d + K, K),
   the polynomial evaluated against ``model.forward`` on held-out points (float64), and the same
   coefficients used as weights of polynomial features; compares with least squares fitted on
   those features directly;
3. prints the polynomial of a tiny SLNN in full, as text and as LaTeX;
4. puts a ReLU in the network and shows ``expand`` refusing, naming the layer.

Every number printed is computed by the script. Run it with::

    python tutorials/02_an_slnn_is_a_polynomial.py [--quick] [--out DIR]

``--quick`` (or ``SLAF_TUTORIAL_QUICK=1``) trains on fewer points for fewer epochs (a few
seconds). The figure goes to ``DIR`` (default ``$SLAF_TUTORIAL_OUT`` or ``tutorials/out/``).
"""

# %% [markdown]
# ## Set-up

# %%
import argparse
import math
import os
from pathlib import Path

import numpy as np

import slaf_np as sn
from slaf_np.datasets import smooth_regression
from slaf_np.polynomial import count_monomials, degree_bound
from slaf_np.polynomial.features import polynomial_features

parser = argparse.ArgumentParser(description="Tutorial 2: an SLNN is a polynomial.")
parser.add_argument("--quick", action="store_true", help="a short training (a few seconds)")
parser.add_argument("--out", default=None, help="folder for the figure (default tutorials/out)")
args, _ = parser.parse_known_args()  # known args only: also runs cell by cell in IPython
QUICK = args.quick or os.environ.get("SLAF_TUTORIAL_QUICK", "0") not in ("", "0")
OUT = Path(args.out or os.environ.get("SLAF_TUTORIAL_OUT") or Path(__file__).parent / "out")

SEED = 0
D_IN, WIDTH, DEGREES = 2, 8, (2, 3)
N_TRAIN, N_TEST = (500, 500) if QUICK else (4000, 2000)
EPOCHS = 8 if QUICK else 80
BATCH, LR = 64, 1e-2

rng = np.random.default_rng(SEED)
np.set_printoptions(precision=4, suppress=True, linewidth=100)

# %% [markdown]
# ## 1. Train a small SLNN
#
# The task: x uniform on [-2, 2]^2, y = sin(x_1) + sin(x_2) + 0.5 exp(-|x|^2 / 2)
# (``slaf_np.datasets.smooth_regression``). Not a polynomial, so a degree-6 polynomial can only
# approximate it.
#
# The network is Dense(2, 8) -> SLAF(8, k=2) -> Dense(8, 8) -> SLAF(8, k=3) -> Dense(8, 1), with
# the paper's SLAF (power basis, per-power standardisation, one coefficient vector per neuron),
# Glorot-uniform weights, float32, Adam and the mean squared error.

# %%
Xtr, ytr = smooth_regression(N_TRAIN, D_IN, rng)
Xte, yte = smooth_regression(N_TEST, D_IN, rng)
Xtr, ytr, Xte, yte = (a.astype(np.float32) for a in (Xtr, ytr, Xte, yte))

model = sn.Sequential(
    sn.Dense(D_IN, WIDTH, rng=rng, init="glorot"),
    sn.SLAF(WIDTH, DEGREES[0], rng=rng),
    sn.Dense(WIDTH, WIDTH, rng=rng, init="glorot"),
    sn.SLAF(WIDTH, DEGREES[1], rng=rng),
    sn.Dense(WIDTH, 1, rng=rng, init="glorot"),
)
print(model)
print(f"{model.n_params()} parameters; training on {N_TRAIN} points for {EPOCHS} epochs")
history = sn.fit(model, Xtr, ytr, "mse", sn.Adam(model, lr=LR), epochs=EPOCHS,
                 batch_size=BATCH, rng=rng, metric="rmse", verbose=not QUICK)

# %% [markdown]
# ``fit`` reports the training metric of the training-mode outputs (batch statistics, noisy with
# batches of 64). What we expand is the evaluation-mode network, which uses the running
# statistics: exponential averages over the last ~100 steps, taken while the weights were still
# moving. ``recalibrate`` freezes the weights and recomputes every running statistic exactly over
# the training inputs, layer after layer; it changes no parameter.

# %%
_, rmse_before = sn.evaluate(model, Xte, yte, "mse", "rmse")
sn.recalibrate(model, Xtr)
_, rmse_after = sn.evaluate(model, Xte, yte, "mse", "rmse")
print(f"test RMSE: {rmse_before:.4f} with the running statistics as trained, {rmse_after:.4f} "
      f"after recalibrate (target std {yte.std():.4f})")

# %% [markdown]
# ## 2. Expand it
#
# ``expand(model)`` pushes the input variables x_1, x_2 through the layers as polynomials (a
# Dense layer is a matrix product of coefficient vectors, a SLAF applies each neuron's univariate
# polynomial by Horner's scheme), all in float64.

# %%
poly = sn.expand(model)
K = poly.degree
print(f"\nexpand(model): {poly!r}")
print(f"degree {K} = product of the SLAF degrees {' x '.join(map(str, DEGREES))} = "
      f"{math.prod(DEGREES)} (degree_bound: {degree_bound(model)})")
print(f"{poly.n_terms} non-zero terms; a degree-{K} polynomial in {D_IN} variables has "
      f"C({D_IN} + {K}, {K}) = {count_monomials(D_IN, K)} coefficients; the network has "
      f"{model.n_params()} parameters")
print("the first terms:", poly.to_string(precision=4, max_terms=6))

# %% [markdown]
# The check that matters: the polynomial and the network agree. Both in float64 (the network is
# cast to float64; ``astype`` changes the dtype in place, so we keep the float32 outputs first),
# they should agree to rounding, about 1e-15 relative to the output scale. The float32 network
# agrees only to float32 rounding.

# %%
out32 = model.forward(Xte, training=False)[:, 0].astype(np.float64)
model.astype(np.float64)
X64 = Xte.astype(np.float64)
out64 = model.forward(X64, training=False)[:, 0]
p_of_x = poly(X64)
scale = np.abs(out64).max()
print(f"\nmax |expand(model)(X) - model.forward(X)|: {np.abs(p_of_x - out64).max():.2e} "
      f"(float64 network), {np.abs(p_of_x - out32).max():.2e} (float32 network); "
      f"outputs up to {scale:.3f}")
assert np.allclose(p_of_x, out64, rtol=0, atol=1e-10 * scale), "expansion != network"

# %% [markdown]
# The same numbers as linear regression. ``polynomial_features(X, K)`` lists the C(d + K, K)
# monomials in graded order (1, x_1, x_2, x_1^2, x_1 x_2, x_2^2, ...), the order
# ``Polynomial.to_dense()`` uses, so the network's output is one dot product per sample:
#
#     model(x) = Phi(x) . w,     w = poly.to_dense()
#
# And since the SLNN is a degree-6 polynomial, it cannot fit the training set better than the
# least-squares polynomial of degree 6, which we can compute directly (28 unknowns, one lstsq).

# %%
Phi_tr = polynomial_features(Xtr.astype(np.float64), K)
Phi_te = polynomial_features(X64, K)
w = poly.to_dense(K)
print(f"\nfeatures: {Phi_tr.shape[1]} columns; max |Phi(X) w - model(X)| = "
      f"{np.abs(Phi_te @ w - out64).max():.2e}")
w_ls = np.linalg.lstsq(Phi_tr, ytr.astype(np.float64), rcond=None)[0]


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


slnn_tr = model.forward(Xtr.astype(np.float64))[:, 0]
print(f"train RMSE: SLNN {rmse(slnn_tr, ytr):.4f}, least squares on the same {len(w)} features "
      f"{rmse(Phi_tr @ w_ls, ytr):.4f} (the best any degree-{K} polynomial can do)")
print(f"test RMSE:  SLNN {rmse(out64, yte):.4f}, least squares {rmse(Phi_te @ w_ls, yte):.4f}")

# %% [markdown]
# The least-squares polynomial is the best any degree-6 polynomial can do on the training set.
# The SLNN's polynomials are some of those (the ones its weights can reach), so its error can
# only be higher; how much of the gap is that restriction and how much is the optimiser, this
# experiment does not say.
#
# Here the network (161 parameters) is a roundabout way of writing 28 coefficients. The balance
# flips as the input dimension and the degrees grow: the number of monomials C(d + K, K) grows
# like d^K / K!, the SLNN's parameters only linearly in d. Counting both for a few shapes (the
# networks are only built, not trained):

# %%
print("\n  inputs  hidden    SLAF degrees  poly degree  SLNN parameters  C(d+K, K) monomials")
for d, widths, degs in ((2, (8, 8), (2, 3)), (13, (128, 64), (4, 2)), (13, (128, 64), (4, 4)),
                        (784, (64,), (2,))):
    layers, prev = [], d
    for wdt, k in zip(widths, degs, strict=True):
        layers += [sn.Dense(prev, wdt, rng=0), sn.SLAF(wdt, k, rng=0)]
        prev = wdt
    net = sn.Sequential(*layers, sn.Dense(prev, 1, rng=0))
    KK = degree_bound(net)
    print(f"  {d:6d}  {'-'.join(map(str, widths)):>9s}  {str(degs):>12s}  {KK:11d}  "
          f"{net.n_params():15,d}  {count_monomials(d, KK):20,d}")

# %% [markdown]
# ## 3. A polynomial small enough to read
#
# A 2-2-1 SLNN with one degree-2 SLAF, at its random initialisation, recalibrated on a few points
# so that the running statistics are those of real inputs. Its polynomial has degree 2 in 2
# variables: at most C(4, 2) = 6 terms. Its constant term is the network's output at x = 0.

# %%
tiny = sn.Sequential(sn.Dense(2, 2, rng=rng, dtype=np.float64),
                     sn.SLAF(2, 2, rng=rng, dtype=np.float64),
                     sn.Dense(2, 1, rng=rng, dtype=np.float64))
sn.recalibrate(tiny, rng.uniform(-1, 1, (64, 2)))
p_tiny = sn.expand(tiny)
print(f"\ntiny SLNN: p(x) = {p_tiny}")
print(f"LaTeX:     p(x) = {p_tiny.to_latex(precision=4)}")
print(f"constant term {p_tiny.coef_of([0, 0]):.6f} vs tiny(0) = "
      f"{tiny.forward(np.zeros((1, 2)))[0, 0]:.6f}")

# %% [markdown]
# ## 4. A ReLU breaks it
#
# max(z, 0) is not a polynomial, so a network with a ReLU anywhere has no finite expansion.
# ``expand`` says which layer is at fault, by its index path (as in the parameter keys).

# %%
hybrid = sn.Sequential(*model.layers[:3], sn.ReLU(), *model.layers[3:])
try:
    sn.expand(hybrid)
    print("expand(hybrid) did not raise (this should not happen)")
except ValueError as err:
    print(f"\nexpand(hybrid) raised ValueError: {err}")

# %% [markdown]
# ## The figure
#
# The target and the SLNN's polynomial on [-3, 3]^2, a wider square than the training one
# ([-2, 2]^2, dashed): inside it the polynomial follows the target; outside, nothing holds it
# and a degree-6 polynomial grows like |x|^6.

# %%
from matplotlib.figure import Figure  # noqa: E402  (only the figure needs matplotlib)

from slaf_np.utils import save_figure  # noqa: E402

g = np.linspace(-3, 3, 121)
G1, G2 = np.meshgrid(g, g)
grid = np.column_stack([G1.ravel(), G2.ravel()])
t_grid = (np.sin(grid).sum(axis=1) + 0.5 * np.exp(-(grid ** 2).sum(axis=1) / D_IN))
p_grid = poly(grid)
inside = (np.abs(grid) <= 2).all(axis=1)
print(f"\non a 121 x 121 grid of [-3, 3]^2: RMSE {rmse(p_grid[inside], t_grid[inside]):.4f} inside "
      f"the training square, {rmse(p_grid[~inside], t_grid[~inside]):.4f} outside")

fig = Figure(figsize=(11.0, 3.4), layout="constrained")
axes = fig.subplots(1, 3)
lim = np.abs(t_grid).max()
for ax, values, title in ((axes[0], t_grid, "target"),
                          (axes[1], p_grid, f"expand(model): degree {K}, {poly.n_terms} terms")):
    im = ax.pcolormesh(G1, G2, values.reshape(G1.shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
err = np.abs(p_grid - t_grid).reshape(G1.shape)
im = axes[2].pcolormesh(G1, G2, np.log10(err + 1e-12), cmap="viridis")
axes[2].set_title("log10 |polynomial - target|", fontsize=9)
fig.colorbar(im, ax=axes[2])
for ax in axes:
    ax.plot([-2, 2, 2, -2, -2], [-2, -2, 2, 2, -2], "k--", lw=1)
    ax.set_xlabel("x_1")
    ax.set_ylabel("x_2")
    ax.set_aspect("equal")
path = save_figure(fig, OUT / "02_slnn_polynomial.png")
print(f"figure: {path}")
