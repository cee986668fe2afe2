r"""Tutorial 1: a Self-Learnable Activation Function, computed by hand.

A SLAF (Goyal, Goyal and Lall, arXiv:1906.09529) is an activation function with parameters: a
learned weighted sum of fixed basis functions,

    f(z) = sum_{i=1..k} c_i g_i(z) + b.

With the power basis g_i(z) = z^i, f is a degree-k polynomial whose coefficients are trained with
the rest of the network. The authors' final version (the one ``slaf_np.SLAF`` implements by
default) standardises every power with batch statistics before weighting it, exactly like batch
normalisation does for a whole pre-activation:

    P_i    = z^i                                   i = 1..k   (no z^0: the bias b plays that role)
    P^_i   = (P_i - mu_i) / sqrt(var_i + eps)      per feature AND per power
    SLAF(z) = sum_i c_i P^_i + b

mu_i and var_i are the mean and the biased variance of P_i over the batch in training, and running
averages of those at test time. Each feature (neuron) d of a dense layer has its own c_d (k,) and
b_d (unless ``shared=True``).

This script does, in plain NumPy and next to the layer:

1. one training-mode forward pass of a tiny SLAF layer (N = 5 samples, D = 2 features, k = 3);
2. the backward pass: the gradients dc, db and dz derived step by step, including the
   batch-norm term (the gradient that flows through mu_i and var_i), compared with
   ``layer.backward``;
3. a finite-difference Jacobian check (``slaf_np.gradcheck.check_jacobian``, float64), and a
   deliberately broken backward that the check must catch (a negative control: a check that
   cannot fail proves nothing);
4. what ``normalize=True`` does to the scales of the powers z^i (and so to their gradients).

Every number printed is computed by the script. Run it with::

    python tutorials/01_slaf_by_hand.py [--quick] [--out DIR]

``--quick`` (or ``SLAF_TUTORIAL_QUICK=1``) uses fewer samples in part 4. The one figure goes to
``DIR`` (default ``$SLAF_TUTORIAL_OUT`` or ``tutorials/out/``).
"""

# %% [markdown]
# ## Set-up
#
# One random generator, seeded once; float64 everywhere (gradient checks need it: a central
# difference with step 1e-6 in float32 would be mostly rounding noise).

# %%
import argparse
import os
from pathlib import Path

import numpy as np

import slaf_np as sn
from slaf_np.gradcheck import GradcheckError, check_jacobian

parser = argparse.ArgumentParser(description="Tutorial 1: a SLAF computed by hand.")
parser.add_argument("--quick", action="store_true", help="smaller samples (a few seconds)")
parser.add_argument("--out", default=None, help="folder for the figure (default tutorials/out)")
args, _ = parser.parse_known_args()  # known args only: also runs cell by cell in IPython
QUICK = args.quick or os.environ.get("SLAF_TUTORIAL_QUICK", "0") not in ("", "0")
OUT = Path(args.out or os.environ.get("SLAF_TUTORIAL_OUT") or Path(__file__).parent / "out")

SEED = 0
N, D, K = 5, 2, 3          # batch, features, degree
EPS = 1e-8                 # the layer's default eps (added to each variance)

rng = np.random.default_rng(SEED)
np.set_printoptions(precision=5, suppress=True, linewidth=100)

# %% [markdown]
# ## 1. One forward pass by hand
#
# The layer draws its coefficients as the authors did: c ~ N(0, 1) plus 1 on the linear term
# (so the initial activation is roughly the identity plus noise) and b = 0.1. The input z is a
# batch of N = 5 pre-activations of D = 2 neurons.

# %%
layer = sn.SLAF(D, K, rng=rng, dtype=np.float64)
z = rng.standard_normal((N, D))
c, b = layer.params["c"].copy(), layer.params["b"].copy()       # c (D, k), b (D,)
print("c =\n", c, "\nb =", b)
print("z =\n", z)

# By hand. P[n, d, i-1] = z[n, d]^i for i = 1..k, then per (feature, power) statistics over the
# batch axis: mean, biased variance, standardised terms, the weighted sum.
powers = np.arange(1, K + 1)
P = z[:, :, None] ** powers                                     # (N, D, k)
mu = P.mean(axis=0)                                             # (D, k)
var = P.var(axis=0)                                             # (D, k), biased (ddof = 0)
s = np.sqrt(var + EPS)
Ph = (P - mu) / s                                               # P^, (N, D, k)
y_hand = (c * Ph).sum(axis=-1) + b                              # (N, D)

y_layer = layer.forward(z, training=True)
print("\nforward, training mode")
print("y by hand =\n", y_hand)
print("y layer   =\n", y_layer)
print(f"forward: max |by hand - layer| = {np.abs(y_hand - y_layer).max():.2e}")

# %% [markdown]
# The standardised terms have mean 0 and variance 1 over the batch, per feature and power, by
# construction. So a training-mode SLAF's output has batch mean exactly b: the constant parts
# of the powers are all absorbed by the statistics.

# %%
print("batch mean of y - b (should be ~0):", y_layer.mean(axis=0) - b)

# %% [markdown]
# At test time mu and var are constants (the running averages), so the layer is an ordinary
# polynomial of z. After a single training step the running averages have only moved 1 % of
# the way from their start (mean 0, variance 1) towards the batch values
# (r <- 0.99 r + 0.01 batch). ``slaf_np.recalibrate`` replaces them by the exact statistics over a
# data set; after it, the evaluation-mode layer on this batch gives the training-mode output.
# ``layer.polynomial()`` returns each feature's activation as ascending monomial coefficients.

# %%
expected_running_mean = 0.99 * 0.0 + 0.01 * mu
print(f"\nrunning_mean after one step == 0.01 * mu: "
      f"{np.allclose(layer.buffers['running_mean'], expected_running_mean)}")
sn.recalibrate(layer, z)
y_eval = layer.forward(z, training=False)
print(f"after recalibrate: max |eval - training| = {np.abs(y_eval - y_layer).max():.2e}")
coef = layer.polynomial()                                       # (D, k + 1), ascending
print("each feature as a polynomial of z (ascending coefficients):\n", coef)
y_poly = np.stack([np.polynomial.polynomial.polyval(z[:, d], coef[d]) for d in range(D)], 1)
print(f"polynomial(z) vs eval forward: max diff {np.abs(y_poly - y_eval).max():.2e}")

# %% [markdown]
# ## 2. The backward pass by hand
#
# Take an upstream gradient dy = dL/dy (N, D). Everything below is per feature d; sums run over
# the batch n = 1..N.
#
# **Coefficients and bias.** y_n = sum_i c_i P^_{n,i} + b is linear in c and b:
#
#     dc_i = sum_n dy_n P^_{n,i}          db = sum_n dy_n
#
# **The standardised terms.** dL/dP^_{n,i} = c_i dy_n; call it g_{n,i}.
#
# **The batch-norm term.** P^_n = (P_n - mu) / s depends on every P_m of the batch through
# mu = (1/N) sum_m P_m and s = sqrt(var + eps), var = (1/N) sum_m (P_m - mu)^2 (fix the power i
# and drop it from the notation). Differentiating,
#
#     d mu / d P_m = 1/N,
#     d var / d P_m = (2/N)(P_m - mu)          (the term through mu vanishes: sum_n (P_n - mu) = 0)
#     d s / d P_m  = (1 / 2s) d var / d P_m = P^_m / N,
#
#     d P^_n / d P_m = (delta_nm - 1/N) / s - (P_n - mu) / s^2 * P^_m / N
#                    = (delta_nm - 1/N - P^_n P^_m / N) / s.
#
# Summing against g_n:
#
#     dP_m = sum_n g_n d P^_n / d P_m = (g_m - mean_n(g_n) - P^_m mean_n(g_n P^_n)) / s.
#
# The two subtracted means make dP orthogonal to the constant vector and to P^: shifting or
# rescaling a whole batch of P_i does not change P^_i, so the loss cannot depend on those
# directions. In evaluation mode (constant mu, s) only dP_m = g_m / s remains.
#
# **The input.** P_i = z^i, so dP_i / dz = i z^(i-1), and the chain rule sums the k powers:
#
#     dz_n = sum_i dP_{n,i} * i z_n^(i-1).

# %%
layer.zero_grad()
layer.forward(z, training=True)                 # backward needs the cache of a forward
dy = rng.standard_normal((N, D))

dc_hand = (dy[:, :, None] * Ph).sum(axis=0)                     # (D, k)
db_hand = dy.sum(axis=0)                                        # (D,)
g = dy[:, :, None] * c                                          # dL/dP^, (N, D, k)
dP_hand = (g - g.mean(axis=0) - Ph * (g * Ph).mean(axis=0)) / s
dz_hand = (dP_hand * powers * z[:, :, None] ** (powers - 1)).sum(axis=-1)

dz_layer = layer.backward(dy)
print("\nbackward, training mode")
print("dz by hand =\n", dz_hand, "\ndz layer   =\n", dz_layer)
for name, hand, lay in (("dc", dc_hand, layer.grads["c"]), ("db", db_hand, layer.grads["b"]),
                        ("dz", dz_hand, dz_layer)):
    print(f"backward: {name} max |by hand - layer| = {np.abs(hand - lay).max():.2e}")

# Without the batch-norm term (the evaluation-mode formula applied to a training batch) dz is
# simply wrong; how wrong, on this batch:
dz_no_bn = ((g / s) * powers * z[:, :, None] ** (powers - 1)).sum(axis=-1)
print(f"dz without the batch-norm term differs by up to {np.abs(dz_no_bn - dz_layer).max():.3f}"
      f" (|dz| up to {np.abs(dz_layer).max():.3f})")

# %% [markdown]
# ## 3. Gradient check, and a negative control
#
# ``check_jacobian`` builds the full Jacobian of the layer's output with respect to its input and
# to every parameter twice: row by row from ``backward`` (dy = e_j for each output entry j), and
# column by column from central differences (f(x + h e) - f(x - h e)) / 2h with h = 1e-6. It
# compares them entry by entry (|a - n| <= 1e-6 + 1e-5 max(|a|, |n|)) and restores the running
# statistics the training-mode forwards changed.

# %%
for training in (True, False):
    res = check_jacobian(layer, z, training=training)
    mode = "training" if training else "evaluation"
    print(f"\ncheck_jacobian ({mode} mode): passed, {res.n_checked} entries, worst relative "
          f"error {res.max_error:.1e} ({res.where})")

# %% [markdown]
# A check is only worth something if it fails on a wrong gradient. Here is the most natural
# mistake in this layer: treating the batch statistics as constants, i.e. using the
# evaluation-mode backward in training. The layer below computes its forward exactly as the real
# one; only ``backward`` drops the batch-norm term.


# %%
class ForgetfulSLAF(sn.SLAF):
    """A SLAF whose backward ignores the dependence of mu and var on the batch (a bug)."""

    def forward(self, x, training=False):
        self.seen = (x, training)                 # remember the input for our own backward
        return super().forward(x, training=training)

    def backward(self, dy):
        x, training = self.seen
        Px = x[:, :, None] ** powers
        m = Px.mean(axis=0) if training else self.buffers["running_mean"]
        v = Px.var(axis=0) if training else self.buffers["running_var"]
        sd = np.sqrt(v + self.eps)
        self.grads["c"] += (dy[:, :, None] * (Px - m) / sd).sum(axis=0)     # correct
        self.grads["b"] += dy.sum(axis=0)                                   # correct
        gg = dy[:, :, None] * self.params["c"]
        return ((gg / sd) * powers * x[:, :, None] ** (powers - 1)).sum(axis=-1)  # no BN term


broken = ForgetfulSLAF(D, K, rng=np.random.default_rng(SEED), dtype=np.float64)
broken.params["c"][...] = c
broken.params["b"][...] = b
try:
    check_jacobian(broken, z, training=True)
    print("negative control: NOT caught (this should not happen)")
except GradcheckError as err:
    print(f"negative control: GradcheckError caught:\n  {err}")

# In evaluation mode the statistics really are constants, so the same backward is correct there
# and the check passes: the bug only exists in training.
res = check_jacobian(broken, z, training=False)
print(f"the same broken layer in evaluation mode: passed (worst relative error "
      f"{res.max_error:.1e})")

# %% [markdown]
# ## 4. What normalize=True does to the scales of the powers
#
# Without normalisation the SLAF weights the raw powers z, z^2, ..., z^k. If z ~ N(0, sigma^2),
# E[z^(2j)] = (2j - 1)!! sigma^(2j): the scales of the terms differ by orders of magnitude, and so
# do the gradients dc_i = sum_n dy_n z_n^i. A single learning rate is then too large for the
# high powers and too small for the low ones (the "exploding/vanishing gradients" of the paper).
#
# To look at each term separately we use a trick: a layer with k features, the same z fed to
# each, and c = identity, b = 0. Feature i then outputs exactly the i-th term: z^i with
# ``normalize=False``, P^_i with ``normalize=True``.

# %%
K_SCALE = 6
N_SCALE = 512 if QUICK else 20_000
SIGMAS = (0.5, 1.0, 2.0)


def terms(sigma: float, normalize: bool, rng: np.random.Generator):
    """Outputs (N, k) of the k single-term features on z ~ N(0, sigma^2), and |dc_i| for
    dy ~ N(0, 1) / N (the gradient of a mean loss)."""
    probe = sn.SLAF(K_SCALE, K_SCALE, normalize=normalize, init="identity", dtype=np.float64)
    probe.params["c"][...] = np.eye(K_SCALE)
    probe.params["b"][...] = 0.0
    zs = np.repeat(sigma * rng.standard_normal((N_SCALE, 1)), K_SCALE, axis=1)
    out = probe.forward(zs, training=True)
    probe.backward(rng.standard_normal(out.shape) / N_SCALE)
    return out, np.abs(np.diag(probe.grads["c"]))


rows = {}
for sigma in SIGMAS:
    raw, g_raw = terms(sigma, False, np.random.default_rng(SEED))
    nrm, g_nrm = terms(sigma, True, np.random.default_rng(SEED))
    rows[sigma] = (raw, nrm, g_raw, g_nrm)

raw, nrm, g_raw, g_nrm = rows[2.0]
print(f"\nz ~ N(0, 2^2), {N_SCALE} samples, one row per power i")
print("  i     mean z^i       var z^i   |dc_i| raw   mean P^_i  var P^_i  |dc_i| normalised")
for i in range(K_SCALE):
    print(f"  {i + 1}  {raw[:, i].mean():11.4g}  {raw[:, i].var():12.4g}  {g_raw[i]:11.3g}  "
          f"{nrm[:, i].mean():10.1e}  {nrm[:, i].var():8.6f}  {g_nrm[i]:11.3g}")

for sigma in SIGMAS:
    raw, nrm, g_raw, g_nrm = rows[sigma]
    sd_raw, sd_nrm = raw.std(axis=0), nrm.std(axis=0)
    print(f"sigma {sigma}: std of the terms spans a factor {sd_raw.max() / sd_raw.min():.3g} raw, "
          f"{sd_nrm.max() / sd_nrm.min():.6f} normalised")

# %% [markdown]
# Normalised, every term has mean 0 and variance 1 (up to eps), whatever sigma: the coefficients
# c_i all act on the same scale and their gradients are comparable. The price is the batch-norm
# term of part 2 in the backward pass, and running statistics that must be kept (and
# recalibrated) for test time.
#
# The figure shows the standard deviation of each term, raw and normalised, for the three sigmas.

# %%
from matplotlib.figure import Figure  # noqa: E402  (only the figure needs matplotlib)

from slaf_np.utils import save_figure  # noqa: E402

fig = Figure(figsize=(6.0, 3.6), layout="constrained")
ax = fig.subplots()
for j, sigma in enumerate(SIGMAS):
    raw, nrm, _, _ = rows[sigma]
    ax.semilogy(np.arange(1, K_SCALE + 1), raw.std(axis=0), "o-", color=f"C{j}",
                label=f"raw z^i, sigma={sigma}")
    ax.semilogy(np.arange(1, K_SCALE + 1), nrm.std(axis=0), "x--", color=f"C{j}", alpha=0.7,
                label=f"normalised, sigma={sigma}")
ax.set_xlabel("power i")
ax.set_ylabel("standard deviation of the term")
ax.set_title("SLAF terms: raw powers vs per-power standardisation", fontsize=9)
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=7, ncol=2)
path = save_figure(fig, OUT / "01_term_scales.png")
print(f"\nfigure: {path}")
