r"""Claim 2, universality: SLNNs approximate Lipschitz networks arbitrarily well on compact sets.

Goal
    docs/paper.md section 1, claim 2: replace every activation :math:`\sigma` of a network N by a
    polynomial :math:`p_l` that is uniformly close to it on the range its pre-activations take on
    the compact input domain, and the resulting SLNN :math:`\hat N` satisfies

    .. math:: \sup_x |N(x) - \hat N(x)| \le \sum_l \delta_l \prod_{j > l} L_j \lVert W_j \rVert

    with :math:`\delta_l` the sup error of the layer-l fit. We build these SLNNs for tanh and ReLU
    networks of depth 1-3 (widths 64, 32, 16) on :math:`[-1, 1]^2`, both at their random (Glorot)
    initialisation and after training on a small regression task, for degrees k = 1..24, measure
    the sup error on a dense held-out grid, and plot it beside the bound computed from the same
    networks. As a second curve, SLNNs of the same shape are trained from scratch to imitate the
    depth-2 networks (distillation), to show what gradient training reaches against the
    constructive fit.

Paper's numbers
    None: the claim is a theorem. These are the first measured numbers.

The bound, precisely
    Write the network as :math:`z_l = h_{l-1} W_l + b_l`, :math:`h_l = \sigma(z_l)` (l = 1..L,
    :math:`h_0 = x`), output :math:`h_L W_{L+1} + b_{L+1}` (our ``Dense`` stores W as (in, out));
    the SLNN has :math:`\hat h_l = p_l(\hat z_l)`, :math:`p_l` acting per neuron. Errors are
    measured in the vector sup norm :math:`e_l = \lVert h_l - \hat h_l \rVert_\infty` (per input
    x), because :math:`\delta_l` is a sup over the neurons of layer l (the max of the per-neuron
    fit errors). Then

    .. math::

        e_l \le \lVert \sigma(z_l) - \sigma(\hat z_l) \rVert_\infty
              + \lVert \sigma(\hat z_l) - p_l(\hat z_l) \rVert_\infty
            \le L_\sigma \lVert W_l \rVert_{\infty} e_{l-1} + \delta_l,

    where :math:`\lVert W \rVert_\infty` is the norm of the map :math:`v \mapsto v W` induced by
    the sup norm on both sides: :math:`\max_j \sum_i |W_{ij}|` (the max absolute column sum of
    our (in, out) array, i.e. the max absolute *row* sum of the textbook matrix acting on column
    vectors). The sup norm is the only choice that needs no dimension-dependent conversion: the
    fit errors are uniform per neuron, and any other norm would add factors like
    :math:`\sqrt{D}`. Unrolling from :math:`e_0 = 0` to the output layer (Lipschitz constant 1)
    gives the formula above with :math:`L_j = 1` for tanh and ReLU. We also record the tighter
    *componentwise* bound :math:`\varepsilon_l = L |W_l|^T \varepsilon_{l-1} + \delta_l^{(vec)}`
    (vectors of per-neuron errors, output :math:`|W_{L+1}|^T \varepsilon_L`), which the sup-norm
    bound dominates.

    The second inequality needs :math:`\hat z_l` to stay in the interval :math:`p_l` was fitted
    on: the SLNN's pre-activations differ from the network's by up to
    :math:`\lVert W_l \rVert_\infty e_{l-1}`, and outside its interval a polynomial can be far
    from :math:`\sigma`. So (i) each neuron's interval is the range of its pre-activation on a
    128 x 128 grid of the domain, padded by ``MARGIN_REL`` of its width plus ``MARGIN_ABS`` on
    each side (the true range over the square is slightly larger than the grid's for deeper
    layers; the padding also absorbs small SLNN deviations); (ii) on the evaluation grid we check
    whether every :math:`\hat z_l` lies in its interval (``in_range``); (iii) for every degree we
    also compute :math:`\delta^{\rm eff}_l`, the sup error of the fit over the interval widened
    to cover all :math:`\hat z_l` actually seen, and the bound with it (``bound_eff``), which
    holds on the grid unconditionally. A measured error above the a-priori ``bound`` is recorded
    in ``violations`` with its ``in_range`` flag; one above ``bound_eff`` would be a real
    contradiction (or a discretisation effect of the 20,001-point sup of the fit).

How the SLNN is built
    Per hidden layer and degree, :meth:`slaf_np.SLAF.fit_to` fits each neuron's activation
    on its interval (least squares at Chebyshev nodes, near-minimax; ``FitResult.sup_error`` is
    :math:`\max |f - p|` on 20,001 points of the interval). The fit is
    :math:`p(z) = c_0 + \sum_i c_i T_i(t)`, :math:`t = (z - m) / h` (centre m, half-width h). The
    SLNN we measure folds the affine map :math:`z \mapsto t` into the preceding ``Dense``
    (:math:`W / h`, :math:`(b - m) / h`) and uses a Chebyshev-basis SLAF (``normalize=False``)
    with ``c = c_{1..k}``, ``b = c_0``: the same function, evaluated in its well-conditioned form.
    ``SLAF.fit_to``'s own layer (power basis in the raw z, as the paper's deployed SLAF would
    compute it) realises the same polynomial; its error is recorded as ``sup_error_power`` and
    shows the rounding of raw monomials at high degree on wide, off-centre intervals.

Networks
    2 inputs, ``ARCHS`` = (depth, width) in ((1, 64), (2, 32), (3, 16)), one output, float64.
    ``random``: Glorot-uniform weights, biases U(-0.2, 0.2) (so the ReLU kinks are not all at the
    origin). ``trained``: the same initialisation, then ``TRAIN_EPOCHS`` epochs of Adam (lr
    ``TRAIN_LR``, batch ``TRAIN_BATCH``, 400 steps) on ``TRAIN_N`` uniform points of the smooth
    target :math:`y = \sin(\pi x_1) \cos(\pi x_2 / 2) + x_1 x_2`, MSE.

Distillation
    For the depth-2 networks (random and trained), an SLNN 2-32-32-1 with the paper's SLAF
    (power basis, per-term normalisation, ``init="paper"``) of degree k in ``DISTILL_DEGREES`` is
    trained from scratch on ``DISTILL_N`` uniform inputs labelled by the network (MSE, Adam lr
    ``DISTILL_LR``, global-norm clipping at ``DISTILL_CLIP``, batch ``DISTILL_BATCH``,
    ``DISTILL_EPOCHS`` epochs), recalibrated on its training inputs, and measured on the same
    held-out grid. A run that diverges is recorded as such.

Evaluation grid
    201 x 201 uniform points of [-1, 1]^2; it shares only the four corners with the 128 x 128
    grid used for the ranges.

Outputs
    ``universality.json`` (every network's seeds, norms, ranges, per-degree errors, deltas,
    bounds, violations, distillation runs; ``out_of_range``: the network/degree cases whose SLNN
    left the fitted intervals, each with ``bound_held``) and ``universality.png`` (sup error vs
    degree, log scale, measured and bound, one panel per activation and kind, distilled SLNNs as
    stars, the cases that left the fitted range ringed in red, counted in the legend), drawn
    from the JSON-able results only. ``--quick``: one depth-2 width-16 network per activation and
    kind, degrees 1, 4, 12, a short training and one distillation degree (seconds).
"""

from __future__ import annotations

import math

import numpy as np

from . import register

ACTS = ("tanh", "relu")
KINDS = ("random", "trained")
ARCHS = ((1, 64), (2, 32), (3, 16))          # (depth, width)
DEGREES = (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24)
RANGE_GRID = 128                             # points per axis for the pre-activation ranges
EVAL_GRID = 201                              # points per axis for the held-out sup error
MARGIN_REL, MARGIN_ABS = 0.05, 1e-2          # padding of each measured range, per side
RANDOM_BIAS = 0.2                            # biases ~ U(-RANDOM_BIAS, RANDOM_BIAS)
TRAIN_N, TRAIN_EPOCHS, TRAIN_BATCH, TRAIN_LR = 512, 50, 64, 5e-3
DISTILL_DEPTH = 2
DISTILL_DEGREES = (2, 3, 4, 6)
DISTILL_N, DISTILL_EPOCHS, DISTILL_BATCH, DISTILL_LR, DISTILL_CLIP = 4096, 40, 128, 3e-3, 1.0
VIOLATION_RTOL = 1e-9                        # measured > bound * (1 + rtol) + atol is a violation
VIOLATION_ATOL = 1e-12
QUICK = {"archs": ((2, 16),), "degrees": (1, 4, 12), "train_epochs": 10,
         "distill_degrees": (3,), "distill_epochs": 5, "distill_n": 1024}
SEED_RULE = ("each network's row records its seeds (numpy.random.default_rng entropy lists): "
             "init [seed, act index, arch index] (the same network for both kinds), train "
             "[seed, act index, arch index, kind index], distill[k] [seed, act index, arch index, "
             "kind index, k]; indices into config acts, archs and kinds")
PAPER = "None: claim 2 is a theorem; no numbers are reported. These are the first."


# ------------------------------------------------------------------------------ networks

def target(x: np.ndarray) -> np.ndarray:
    """The smooth regression target of the trained networks, x (N, 2) -> (N,)."""
    return np.sin(np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1] / 2) + x[:, 0] * x[:, 1]


def square_grid(n: int) -> np.ndarray:
    """The n x n uniform grid of [-1, 1]^2 as (n * n, 2) points (corners included)."""
    g = np.linspace(-1.0, 1.0, n)
    gx, gy = np.meshgrid(g, g)
    return np.column_stack([gx.ravel(), gy.ravel()])


def make_network(act: str, depth: int, width: int, rng: np.random.Generator):
    """2 -> width (x depth) -> 1 with activation ``act``; Glorot weights, U(-0.2, 0.2) biases,
    float64."""
    from ..nn import Dense, ReLU, Sequential, Tanh

    Act = {"tanh": Tanh, "relu": ReLU}[act]
    layers, d_in = [], 2
    for _ in range(depth):
        layers += [Dense(d_in, width, rng=rng, init="glorot", dtype=np.float64), Act()]
        d_in = width
    layers.append(Dense(d_in, 1, rng=rng, init="glorot", dtype=np.float64))
    for m in layers:
        if "b" in m.params:
            m.params["b"][...] = rng.uniform(-RANDOM_BIAS, RANDOM_BIAS, m.params["b"].shape)
    return Sequential(*layers)


def dense_weights(net) -> list[np.ndarray]:
    """The weight matrices W_1..W_{L+1} (each (in, out)) of a Dense/activation chain."""
    return [m.params["W"] for m in net.layers if "W" in m.params]


def preactivations(net, X: np.ndarray) -> list[np.ndarray]:
    """z_1..z_L: the inputs (N, D_l) of the activation layers for inputs X."""
    zs, h = [], X
    for m in net.layers:
        if "W" not in m.params:
            zs.append(h)
        h = m.forward(h)
    return zs


def measured_ranges(zs: list[np.ndarray]) -> list[np.ndarray]:
    """Per-neuron intervals (D_l, 2): the observed [min, max] padded by the margins."""
    out = []
    for z in zs:
        lo, hi = z.min(axis=0), z.max(axis=0)
        pad = MARGIN_REL * (hi - lo) + MARGIN_ABS
        out.append(np.column_stack([lo - pad, hi + pad]))
    return out


# ------------------------------------------------------------------------------ the bound

def inf_norm(W: np.ndarray) -> float:
    r"""Norm of :math:`v \mapsto v W` induced by the sup norm: :math:`\max_j \sum_i |W_{ij}|`."""
    return float(np.abs(W).sum(axis=0).max())


def sup_norm_bound(weights, deltas, lipschitz: float = 1.0) -> float:
    r""":math:`\sum_l \delta_l \prod_{j > l} L_j \lVert W_j \rVert_\infty` (module docstring).

    Parameters
    ----------
    weights : list of arrays
        W_1..W_{L+1}, each (in, out), the last one the output layer (Lipschitz constant 1).
    deltas : sequence of L floats
        delta_l, the sup error of the layer-l activation fit on its interval.
    lipschitz : float
        L_j of the original activation (the same in every hidden layer).
    """
    L = len(deltas)
    if len(weights) != L + 1:
        raise ValueError(f"sup_norm_bound: {len(weights)} weight matrices for {L} activation "
                         f"layers; need L + 1 (the output layer last)")
    total = 0.0
    for l in range(L):                       # delta of hidden layer l + 1 (0-based l)
        prod = inf_norm(weights[L])          # output layer, Lipschitz 1
        for j in range(l + 1, L):            # later hidden layers j + 1
            prod *= lipschitz * inf_norm(weights[j])
        total += deltas[l] * prod
    return total


def componentwise_bound(weights, delta_vectors, lipschitz: float = 1.0) -> float:
    r"""The per-neuron bound :math:`\varepsilon_l = L |W_l|^T \varepsilon_{l-1} + \delta_l`.

    ``delta_vectors[l]`` (D_l,) holds the sup error of each neuron's fit; returns the bound on the
    (single) output, :math:`\max_o (|W_{L+1}|^T \varepsilon_L)_o`. Never larger than
    :func:`sup_norm_bound` with ``deltas[l] = max(delta_vectors[l])``.
    """
    L = len(delta_vectors)
    if len(weights) != L + 1:
        raise ValueError(f"componentwise_bound: {len(weights)} weight matrices for {L} activation "
                         f"layers; need L + 1")
    eps = np.asarray(delta_vectors[0], dtype=np.float64)     # the input itself is exact
    for l in range(1, L):
        eps = lipschitz * (eps @ np.abs(weights[l])) + np.asarray(delta_vectors[l])
    return float((eps @ np.abs(weights[L])).max())


# ------------------------------------------------------------------------------ the SLNN

def build_slnn(net, act: str, degree: int, ranges: list[np.ndarray]):
    """The SLNNs of ``net`` at one degree: (stable SLNN, raw power-basis SLNN, fits per layer).

    Stable: each hidden ``Dense`` is rescaled so that its outputs are ``t = (z - m) / h`` and each
    activation is a Chebyshev-basis SLAF holding the fit's coefficients. Power: ``SLAF.fit_to``'s
    layers (power basis in z) after the original ``Dense`` layers.
    """
    from ..nn import Dense, Sequential
    from ..nn.slaf import SLAF

    stable, power, fits, l = [], [], [], 0
    for m in net.layers:
        if "W" in m.params:
            stable.append(_copy_dense(m, Dense))
            power.append(_copy_dense(m, Dense))
            continue
        D = ranges[l].shape[0]
        layer, layer_fits = SLAF.fit_to(act, D, degree, ranges[l], basis="power",
                                        normalize=False, fit_basis="chebyshev",
                                        dtype=np.float64, return_fits=True)
        center = np.array([f.center for f in layer_fits])
        half = np.array([f.halfwidth for f in layer_fits])
        prev = stable[-1]
        prev.params["W"][...] = prev.params["W"] / half
        prev.params["b"][...] = (prev.params["b"] - center) / half
        cheb = SLAF(D, degree, basis="chebyshev", normalize=False, init="identity",
                    dtype=np.float64)
        coef = np.stack([f.coef for f in layer_fits])
        cheb.params["c"][...] = coef[:, 1:]
        cheb.params["b"][...] = coef[:, 0]
        stable.append(cheb)
        power.append(layer)
        fits.append(layer_fits)
        l += 1
    return Sequential(*stable), Sequential(*power), fits


def _copy_dense(m, Dense):
    d = Dense(m.in_features, m.out_features, rng=0, dtype=np.float64)
    d.params["W"][...] = m.params["W"]
    d.params["b"][...] = m.params["b"]
    return d


def _scaled_inputs(slnn, X):
    """The SLAF inputs t_l of the stable SLNN (in range iff |t| <= 1)."""
    return preactivations(slnn, X)


def _delta_eff(fits, t: np.ndarray, act: str) -> np.ndarray:
    """Per-neuron sup |sigma - p| over the fitted interval widened to cover the observed t."""
    from ..approx import ACTIVATIONS

    f = ACTIVATIONS[act]
    out = np.empty(len(fits))
    tlo, thi = np.minimum(t.min(axis=0), -1.0), np.maximum(t.max(axis=0), 1.0)
    for d, fit in enumerate(fits):
        if tlo[d] >= -1.0 and thi[d] <= 1.0:
            out[d] = fit.sup_error
            continue
        x = fit.center + fit.halfwidth * np.linspace(tlo[d], thi[d], 20_001)
        x = np.union1d(x, [k for k in f.kinks if x[0] < k < x[-1]])
        out[d] = max(fit.sup_error, float(np.abs(f(x) - fit.evaluate(x)).max()))
    return out


def slnn_errors(net, act: str, degrees, X_range: np.ndarray, X_eval: np.ndarray,
                log=None) -> dict:
    """Measured sup errors and bounds of the SLNNs of ``net`` for each degree.

    Parameters
    ----------
    net : Sequential
        Dense / activation chain, float64.
    act : {"tanh", "relu"}
    degrees : sequence of int
    X_range : (N_r, 2)
        Inputs whose pre-activations define the fitting intervals.
    X_eval : (N_e, 2)
        Held-out inputs for the sup error.

    Returns
    -------
    dict
        ``ranges`` (per layer: min lo, max hi, widest half-width), ``norms`` (inf norms of W_l),
        and per-degree lists: ``sup_error``, ``rms_error``, ``sup_error_power``, ``deltas``
        (per layer), ``bound``, ``bound_componentwise``, ``in_range``, ``max_abs_t``,
        ``deltas_eff``, ``bound_eff``.
    """
    from ..approx import ACTIVATIONS

    lip = ACTIVATIONS[act].lipschitz
    weights = dense_weights(net)
    ranges = measured_ranges(preactivations(net, X_range))
    y = net.forward(X_eval)[:, 0]
    z_eval = preactivations(net, X_eval)
    keys = ("sup_error", "rms_error", "sup_error_power", "deltas", "bound", "bound_componentwise",
            "in_range", "max_abs_t", "deltas_eff", "bound_eff")
    rec = {k: [] for k in keys}
    for k in degrees:
        stable, power, fits = build_slnn(net, act, k, ranges)
        err = np.abs(stable.forward(X_eval)[:, 0] - y)
        err_power = np.abs(power.forward(X_eval)[:, 0] - y)
        dvec = [np.array([f.sup_error for f in lf]) for lf in fits]
        deltas = [float(d.max()) for d in dvec]
        ts = _scaled_inputs(stable, X_eval)
        max_t = [float(np.abs(t).max()) for t in ts]
        deff = [float(_delta_eff(lf, t, act).max()) for lf, t in zip(fits, ts, strict=True)]
        rec["sup_error"].append(float(err.max()))
        rec["rms_error"].append(float(np.sqrt(np.mean(err ** 2))))
        rec["sup_error_power"].append(float(err_power.max()))
        rec["deltas"].append(deltas)
        rec["bound"].append(sup_norm_bound(weights, deltas, lip))
        rec["bound_componentwise"].append(componentwise_bound(weights, dvec, lip))
        rec["in_range"].append(bool(max(max_t) <= 1.0))
        rec["max_abs_t"].append(max_t)
        rec["deltas_eff"].append(deff)
        rec["bound_eff"].append(sup_norm_bound(weights, deff, lip))
        if log:
            log(f"  k={k:2d}  sup error {err.max():.3e}  bound {rec['bound'][-1]:.3e}  "
                f"(componentwise {rec['bound_componentwise'][-1]:.3e}, "
                f"eff {rec['bound_eff'][-1]:.3e})  max|t| {max(max_t):.3f}  "
                f"power-basis SLAF {err_power.max():.3e}")
    net_in_range = all(bool(np.all((z >= r[:, 0]) & (z <= r[:, 1])))
                       for z, r in zip(z_eval, ranges, strict=True))
    return {"degrees": list(degrees), "norms": [inf_norm(W) for W in weights],
            "lipschitz": lip,
            "ranges": [{"lo_min": float(r[:, 0].min()), "hi_max": float(r[:, 1].max()),
                        "halfwidth_max": float(((r[:, 1] - r[:, 0]) / 2).max())} for r in ranges],
            "eval_preactivations_in_ranges": net_in_range, **rec}


def violations(rec: dict) -> list[dict]:
    """Degrees where the measured sup error exceeds the a-priori or the effective bound."""
    out = []
    for i, k in enumerate(rec["degrees"]):
        m = rec["sup_error"][i]
        for key in ("bound", "bound_eff"):
            b = rec[key][i]
            if m > b * (1 + VIOLATION_RTOL) + VIOLATION_ATOL:
                out.append({"degree": k, "which": key, "measured": m, "bound": b,
                            "in_range": rec["in_range"][i]})
    return out


def out_of_range(networks: list[dict]) -> list[dict]:
    """The (network, degree) cases whose SLNN pre-activations left the fitted intervals.

    There the a-priori bound is not guaranteed (module docstring); ``bound_held`` says whether
    the measured error stayed below it all the same.
    """
    out = []
    for r in networks:
        for i, k in enumerate(r["degrees"]):
            if not r["in_range"][i]:
                m, b = r["sup_error"][i], r["bound"][i]
                out.append({"act": r["act"], "depth": r["depth"], "width": r["width"],
                            "kind": r["kind"], "degree": k, "max_abs_t": max(r["max_abs_t"][i]),
                            "sup_error": m, "bound": b,
                            "bound_held": bool(m <= b * (1 + VIOLATION_RTOL) + VIOLATION_ATOL)})
    return out


# ------------------------------------------------------------------------------ training

def train_network(net, rng: np.random.Generator, epochs: int, verbose: bool = False) -> dict:
    """Fit ``net`` to :func:`target` on TRAIN_N uniform points (MSE, Adam); returns losses."""
    from ..train import fit
    from ..train.optim import Adam

    X = rng.uniform(-1.0, 1.0, (TRAIN_N, 2))
    hist = fit(net, X, target(X), "mse", Adam(net, lr=TRAIN_LR), epochs=epochs,
               batch_size=TRAIN_BATCH, rng=rng, verbose=verbose)
    return {"train_mse_first": hist.train_loss[0], "train_mse_last": hist.train_loss[-1],
            "steps": hist.iterations}


def distill(net, act: str, degree: int, width: int, depth: int, rng: np.random.Generator,
            X_eval: np.ndarray, n: int, epochs: int, verbose: bool = False) -> dict:
    """Train an SLNN of ``net``'s shape (paper SLAF, degree k) to imitate ``net``; sup error."""
    from ..nn import Dense, Sequential
    from ..nn.slaf import SLAF
    from ..train import TrainingDivergedError, fit
    from ..train.calibration import recalibrate
    from ..train.optim import Adam

    layers, d_in = [], 2
    for _ in range(depth):
        layers += [Dense(d_in, width, rng=rng, init="glorot", dtype=np.float64),
                   SLAF(width, degree, rng=rng, dtype=np.float64)]
        d_in = width
    layers.append(Dense(d_in, 1, rng=rng, init="glorot", dtype=np.float64))
    slnn = Sequential(*layers)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = net.forward(X)
    diverged = None
    try:
        hist = fit(slnn, X, y, "mse", Adam(slnn, lr=DISTILL_LR, clip_norm=DISTILL_CLIP),
                   epochs=epochs, batch_size=DISTILL_BATCH, rng=rng, verbose=verbose)
        last = hist.train_loss[-1]
    except TrainingDivergedError as e:
        diverged, last = str(e), math.nan
    recalibrate(slnn, X)
    err = np.abs(slnn.forward(X_eval) - net.forward(X_eval))[:, 0]
    return {"degree": degree, "sup_error": float(err.max()),
            "rms_error": float(np.sqrt(np.mean(err ** 2))), "train_mse_last": last,
            "diverged": diverged, "params": slnn.n_params(), "params_network": net.n_params()}


# ------------------------------------------------------------------------------ the figure

def figure(results: dict, path):
    """Sup error vs degree (measured, bound) per activation and kind, from the results dict.

    Cases whose SLNN left the fitted range (``in_range`` false) are ringed in red; the legend
    counts them and says whether the bound held there. Returns the Figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from ..utils import save_figure

    nets = results["networks"]
    acts = list(dict.fromkeys(r["act"] for r in nets))
    kinds = list(dict.fromkeys(r["kind"] for r in nets))
    archs = sorted({(r["depth"], r["width"]) for r in nets})
    colors = dict(zip(archs, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
    fig = Figure(figsize=(5.0 * len(kinds), 3.6 * len(acts) + 0.8), layout="constrained")
    axes = fig.subplots(len(acts), len(kinds), squeeze=False)
    for i, act in enumerate(acts):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            for r in nets:
                if r["act"] != act or r["kind"] != kind:
                    continue
                c = colors[(r["depth"], r["width"])]
                k = np.array(r["degrees"])
                m = np.maximum(np.array(r["sup_error"]), 1e-17)
                ax.semilogy(k, m, "o-", color=c, ms=4)
                ax.semilogy(k, r["bound"], "--", color=c, lw=1.2)
                for d in r.get("distilled", []):
                    ax.semilogy([d["degree"]], [d["sup_error"]], "*", color=c, ms=12,
                                mec="k", mew=0.6)
                out = ~np.array(r["in_range"])
                if out.any():
                    ax.semilogy(k[out], m[out], "o", ms=11, mfc="none", mec="red", mew=1.6,
                                zorder=5, label="left the fitted range")
            ax.set_title(f"{act} networks, {kind} weights", fontsize=10)
            ax.set_xlabel("SLAF degree k")
            ax.set_ylabel("sup |N - SLNN| (201 x 201 grid)")
            ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=colors[a], marker="o", ms=4,
                      label=f"depth {a[0]}, width {a[1]}") for a in archs]
    handles += [Line2D([], [], color="k", marker="o", ms=4, label="measured (fitted SLNN)"),
                Line2D([], [], color="k", ls="--", label="bound sum_l delta_l prod_j L ||W_j||"),
                Line2D([], [], ls="", marker="*", color="grey", ms=11, mec="k",
                       label="SLNN trained to imitate N (distilled)")]
    left = out_of_range(nets)
    if left:
        held = sum(p["bound_held"] for p in left)
        handles.append(Line2D([], [], ls="", marker="o", ms=11, mfc="none", mec="red", mew=1.6,
                              label=_out_of_range_label(len(left), held)))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle("Universality: polynomial SLNN vs Lipschitz network on [-1, 1]^2",
                 fontsize=11)
    save_figure(fig, path)
    return fig


def _out_of_range_label(n: int, held: int) -> str:
    """The legend entry of the ringed points: how many, and whether the bound held there."""
    case = f"{n} network/degree case{'s' if n != 1 else ''}"
    if held == n:
        return f"left the fitted range ({case}; bound still held)"
    return f"left the fitted range ({case}; bound not guaranteed, exceeded in {n - held})"


# ------------------------------------------------------------------------------ the experiment

@register("universality", "claim 2: SLNN fits of tanh/ReLU networks vs degree, measured sup error "
                          "beside the Lipschitz bound, plus distilled SLNNs")
def run(ctx) -> dict:
    archs = QUICK["archs"] if ctx.quick else ARCHS
    degrees = QUICK["degrees"] if ctx.quick else DEGREES
    train_epochs = QUICK["train_epochs"] if ctx.quick else TRAIN_EPOCHS
    distill_degrees = QUICK["distill_degrees"] if ctx.quick else DISTILL_DEGREES
    distill_epochs = QUICK["distill_epochs"] if ctx.quick else DISTILL_EPOCHS
    distill_n = QUICK["distill_n"] if ctx.quick else DISTILL_N
    X_range, X_eval = square_grid(RANGE_GRID), square_grid(EVAL_GRID)
    ctx.log(f"universality: {len(ACTS) * len(KINDS) * len(archs)} networks, degrees "
            f"{list(degrees)}, ranges from a {RANGE_GRID}^2 grid (+{MARGIN_REL:.0%} "
            f"+{MARGIN_ABS}), errors on a {EVAL_GRID}^2 grid")
    nets, all_violations = [], []
    for a, act in enumerate(ACTS):
        for d, (depth, width) in enumerate(archs):
            for kk, kind in enumerate(KINDS):
                seeds = {"init": [ctx.seed, a, d],             # same init for both kinds
                         "train": [ctx.seed, a, d, kk] if kind == "trained" else None,
                         "distill": {}}
                net = make_network(act, depth, width, np.random.default_rng(seeds["init"]))
                training = None
                if kind == "trained":
                    training = train_network(net, np.random.default_rng(seeds["train"]),
                                             train_epochs)
                ctx.log(f"-- {act}, depth {depth}, width {width}, {kind}"
                        + (f" (train MSE {training['train_mse_first']:.3g} -> "
                           f"{training['train_mse_last']:.3g}, {training['steps']} steps)"
                           if training else ""))
                rec = slnn_errors(net, act, degrees, X_range, X_eval, log=ctx.log)
                v = violations(rec)
                for item in v:
                    ctx.log(f"  VIOLATION at k={item['degree']}: measured {item['measured']:.3e}"
                            f" > {item['which']} {item['bound']:.3e} (in range: "
                            f"{item['in_range']})")
                all_violations += [{"act": act, "depth": depth, "kind": kind, **item}
                                   for item in v]
                row = {"act": act, "depth": depth, "width": width, "kind": kind,
                       "seeds": seeds, "training": training, **rec, "violations": v,
                       "distilled": []}
                if depth == DISTILL_DEPTH:
                    for k in distill_degrees:
                        seeds["distill"][str(k)] = [ctx.seed, a, d, kk, k]
                        res = distill(net, act, k, width, depth,
                                      np.random.default_rng(seeds["distill"][str(k)]), X_eval,
                                      distill_n, distill_epochs)
                        row["distilled"].append(res)
                        ctx.log(f"  distilled SLNN k={k}: sup error {res['sup_error']:.3e}, "
                                f"rms {res['rms_error']:.3e}"
                                + (" (DIVERGED)" if res["diverged"] else ""))
                nets.append(row)
    results = {"config": {"acts": list(ACTS), "kinds": list(KINDS),
                          "archs": [list(x) for x in archs], "degrees": list(degrees),
                          "range_grid": RANGE_GRID, "eval_grid": EVAL_GRID,
                          "margin_rel": MARGIN_REL, "margin_abs": MARGIN_ABS,
                          "random_bias": RANDOM_BIAS, "train_n": TRAIN_N,
                          "train_epochs": train_epochs, "train_batch": TRAIN_BATCH,
                          "train_lr": TRAIN_LR, "distill_degrees": list(distill_degrees),
                          "distill_n": distill_n, "distill_epochs": distill_epochs,
                          "distill_batch": DISTILL_BATCH, "distill_lr": DISTILL_LR,
                          "distill_clip": DISTILL_CLIP, "norm": "induced sup norm "
                          "max_j sum_i |W_ij| of v -> v W", "dtype": "float64"},
               "paper": PAPER, "seed_rule": SEED_RULE, "networks": nets,
               "violations": all_violations,
               "n_violations_a_priori": sum(v["which"] == "bound" for v in all_violations),
               "n_violations_eff": sum(v["which"] == "bound_eff" for v in all_violations)}
    left = out_of_range(nets)
    results.update({"out_of_range": left, "n_out_of_range": len(left),
                    "n_out_of_range_bound_held": sum(p["bound_held"] for p in left)})
    figure(results, ctx.path(".png"))
    ctx.log(f"violations of the a-priori bound: {results['n_violations_a_priori']}, of the "
            f"effective bound: {results['n_violations_eff']}; SLNN left the fitted range in "
            f"{len(left)} network/degree cases, the a-priori bound held in "
            f"{results['n_out_of_range_bound_held']} of them")
    return results
