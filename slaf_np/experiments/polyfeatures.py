"""RQ5: how many polynomial features does it take to represent the paper's SLNNs?

Goal
    Claim 3 of the paper (docs/paper.md s. 1): an evaluation-mode SLNN whose SLAFs are polynomials
    of degrees k_1..k_L computes a polynomial of its d inputs of total degree at most
    K = k_1 ... k_L, so it equals linear regression on the C(d + K, K) monomials of degree <= K,
    "far more than the SLNN's parameters". We count both sides, exactly, for the paper's networks:

    * Boston Housing: 13-Dense128-SLAF(4)-Dense64-SLAF(2)-Dense1, K = 8 (the LR/LLS baselines use
      exactly these C(21, 8) = 203,490 features);
    * two-spirals: 2-10-10-1 with SLAF k = 4 (K = 16) and 2-20-20-1 with k = 7 (K = 49);
    * MNIST: the paper's CNN conv5x5x16-SLAF(4)-maxpool-conv5x5x32-SLAF(4)-maxpool-FC1024-SLAF(5)
      -FC10 (K = 4 * 4 * 5 = 80, d = 784; counted analytically: there is no Conv2D layer to build
      it from, and max-pooling is not a polynomial, so the count is for the same network with
      average pooling);
    * an MLP 784-256-SLAF-256-SLAF-10 with k = 2 and with k = 4.

    The dense networks are built from the real layers (float64, random weights) and counted with
    ``model.n_params()`` and :func:`slaf_np.polynomial.degree_bound`, cross-checked against the
    closed forms below; where it is cheap (d = 2 and 13) :func:`slaf_np.polynomial.expand`
    computes the network's polynomial and we record its degree and its number of non-zero terms:
    for generic weights every one of the C(d + K, K) monomials appears, so no smaller polynomial
    feature set represents the network.

Counting (unshared SLAF: one coefficient vector and bias per feature/channel; running statistics
are buffers, not parameters)::

    Dense(i, o): (i + 1) o          SLAF(D, k): D (k + 1)  (shared: k + 1)
    Conv k x k, C_in -> C_out: (k k C_in + 1) C_out         features: C(d + K, K) per output

Paper's numbers
    C(21, 8) = 203,490 (Boston LR/LLS features); MNIST SLNN "about 1.63M parameters" (the
    analytic count below matches it with a shared SLAF on FC1024; 1.637M with one per neuron);
    ReLU baseline 3.27M. No table of this comparison survives.

Outputs
    ``polyfeatures.json``, ``polyfeatures.md``, ``polyfeatures.png`` (log10 of both counts per
    network, and log10 C(d + K, K) against K for d = 2, 13, 784 with the networks marked).
    ``--quick`` runs the same (it takes about a second).
"""

from __future__ import annotations

import decimal
import math

import numpy as np

from . import register

PAPER = {"boston_features_C(21,8)": 203_490, "mnist_slnn_params": "about 1.63M",
         "mnist_relu_baseline_params": "3.27M",
         "note": "No table of SLNN parameters vs polynomial features survives; counts are ours."}

# name -> (layer widths, SLAF degrees after each hidden Dense, expand it?)
DENSE_NETS = {
    "boston_slnn": ((13, 128, 64, 1), (4, 2), True),
    "spirals_2-10-10-1_k4": ((2, 10, 10, 1), (4, 4), True),
    "spirals_2-20-20-1_k7": ((2, 20, 20, 1), (7, 7), True),
    "mlp_784-256-256-10_k2": ((784, 256, 256, 10), (2, 2), False),
    "mlp_784-256-256-10_k4": ((784, 256, 256, 10), (4, 4), False),
}
MNIST_CNN = {"input": (1, 28, 28), "convs": ((16, 5, 4), (32, 5, 4)), "fc": (1024, 5),
             "classes": 10}          # convs: (channels, kernel, SLAF degree); 'same' + pool 2
MNIST_RELU = {"input": (1, 28, 28), "convs": ((32, 5, None), (64, 5, None)), "fc": (1024, None),
              "classes": 10}         # the paper's ReLU baseline (no SLAF), 3.27M parameters
CURVE_K = tuple(range(1, 101))


def dense_slnn_params(widths, degrees, shared: bool = False) -> int:
    """Closed-form parameter count of Dense-SLAF-...-Dense (a SLAF after each hidden Dense)."""
    dense = sum((i + 1) * o for i, o in zip(widths[:-1], widths[1:], strict=True))
    slaf = sum((1 if shared else D) * (k + 1)
               for D, k in zip(widths[1:-1], degrees, strict=True))
    return dense + slaf


def mnist_cnn_params(spec=MNIST_CNN, shared_fc_slaf: bool = False) -> tuple[int, list]:
    """Layer-by-layer parameter count of the paper's MNIST SLNN (docs/paper.md section 4).

    'same' padding, so each 2x2 max-pooling halves (rounding up) the 28 x 28 image: 14, then 7.
    A SLAF degree of None means no SLAF (the ReLU baseline, :data:`MNIST_RELU`).
    """
    c_in, h, w = spec["input"]
    rows = []
    for c_out, ks, k in spec["convs"]:
        rows.append((f"conv{ks}x{ks}x{c_out}", (ks * ks * c_in + 1) * c_out))
        if k is not None:
            rows.append((f"SLAF k={k} per channel", c_out * (k + 1)))
        rows.append(("maxpool 2", 0))
        c_in, h, w = c_out, math.ceil(h / 2), math.ceil(w / 2)
    units, k = spec["fc"]
    rows.append((f"FC{units} (from {c_in}x{h}x{w} = {c_in * h * w})", (c_in * h * w + 1) * units))
    if k is not None:
        rows.append((f"SLAF k={k} {'shared' if shared_fc_slaf else 'per neuron'}",
                     (k + 1) * (1 if shared_fc_slaf else units)))
    rows.append(("dropout 0.5", 0))
    rows.append((f"FC{spec['classes']}", (units + 1) * spec["classes"]))
    return sum(n for _, n in rows), rows


def _build(widths, degrees, rng):
    from ..nn import Dense, Sequential
    from ..nn.slaf import SLAF

    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(Dense(a, b, rng=rng, init="glorot", dtype=np.float64))
        if i < len(degrees):
            layers.append(SLAF(b, degrees[i], rng=rng, dtype=np.float64))
    return Sequential(*layers)


def _row(name, d, degrees, params, outputs, **extra):
    K = math.prod(degrees)
    feats = math.comb(d + K, K)
    return {"network": name, "d": d, "slaf_degrees": list(degrees), "K": K,
            "slnn_params": params, "poly_features": str(feats),
            "log10_poly_features": math.log10(feats), "log10_slnn_params": math.log10(params),
            "outputs": outputs, "log10_poly_coefficients": math.log10(feats * outputs),
            "features_per_param_log10": math.log10(feats) - math.log10(params), **extra}


def _fmt_int(n: int | str) -> str:
    """An exact count for a table: with thousands separators below 10**12, else three
    significant digits, rounded (half to even, exactly: the integer is never made a float),
    ``1,155,...`` -> ``"1.16e33"``, ``99,950,...`` -> ``"1.00e14"``."""
    n = int(n)
    if n < 10**12:
        return f"{n:,}"
    with decimal.localcontext() as ctx:
        ctx.rounding = decimal.ROUND_HALF_EVEN
        mantissa, exponent = f"{decimal.Decimal(n):.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _table_markdown(rows):
    lines = ["| network | d | SLAF degrees | K | SLNN params | C(d+K, K) per output | "
             "log10 ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['d']} | {'x'.join(map(str, r['slaf_degrees']))} | "
                     f"{r['K']} | {r['slnn_params']:,} | {_fmt_int(r['poly_features'])} | "
                     f"{r['features_per_param_log10']:+.1f} |")
    return "\n".join(lines)


def _figure(res, path):
    from matplotlib.figure import Figure

    from ..utils import save_figure

    rows = res["rows"]
    fig = Figure(figsize=(12, 4.6))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [r["log10_slnn_params"] for r in rows], 0.4, label="SLNN parameters")
    ax.barh(y - 0.2, [r["log10_poly_features"] for r in rows], 0.4,
            label="polynomial features C(d+K, K)")
    for yi, r in zip(y, rows, strict=True):
        ax.text(r["log10_poly_features"] + 0.5, yi - 0.2, f"K={r['K']}", va="center", fontsize=7)
    ax.set_yticks(y, [r["network"] for r in rows], fontsize=8)
    ax.set_xlabel("log10(count)")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("SLNN parameters vs equivalent polynomial features", fontsize=10)
    curves = res["curves"]
    for d, vals in curves["log10_C"].items():
        ax2.plot(curves["K"], vals, label=f"d = {d}")
    for r in rows:
        if str(r["d"]) in curves["log10_C"] and r["K"] <= max(curves["K"]):
            ax2.plot(r["K"], r["log10_poly_features"], "ko", ms=4)
            ax2.annotate(r["network"], (r["K"], r["log10_poly_features"]), fontsize=6,
                         xytext=(3, -8), textcoords="offset points")
    ax2.set_xlabel("degree bound K = product of SLAF degrees")
    ax2.set_ylabel("log10 C(d + K, K)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    ax2.set_title("Polynomial features of degree <= K in d inputs", fontsize=10)
    save_figure(fig, path)


@register("polyfeatures", "RQ5: SLNN parameters vs C(d+K, K) polynomial features, paper's nets")
def run(ctx) -> dict:
    from ..polynomial import degree_bound, expand

    rng = ctx.rng()
    rows = []
    for name, (widths, degrees, do_expand) in DENSE_NETS.items():
        model = _build(widths, degrees, rng)
        params, K = model.n_params(), degree_bound(model)
        closed = dense_slnn_params(widths, degrees)
        if params != closed or K != math.prod(degrees):
            raise AssertionError(f"{name}: built model has {params} parameters and degree bound "
                                 f"{K}; closed forms give {closed} and {math.prod(degrees)}")
        extra = {"widths": list(widths), "params_closed_form": closed,
                 "params_shared_slaf": dense_slnn_params(widths, degrees, shared=True)}
        if do_expand:
            X = rng.uniform(-1, 1, size=(64, widths[0]))
            poly = expand(model)
            out = model.forward(X)[:, 0]
            extra["expanded"] = {"degree": poly.degree, "n_terms": poly.n_terms,
                                 "max_rel_diff_vs_forward": float(np.max(np.abs(poly(X) - out))
                                                                  / np.max(np.abs(out)))}
        rows.append(_row(name, widths[0], degrees, params, widths[-1], **extra))
        ctx.log(f"{name}: {params:,} parameters, K = {K}, C(d+K, K) = "
                f"{_fmt_int(rows[-1]['poly_features'])} per output"
                + (f", expand(): degree {extra['expanded']['degree']}, "
                   f"{extra['expanded']['n_terms']:,} terms" if do_expand else ""))
    total, layers = mnist_cnn_params()
    total_shared, _ = mnist_cnn_params(shared_fc_slaf=True)
    relu_baseline, _ = mnist_cnn_params(MNIST_RELU)
    degrees = [k for *_, k in MNIST_CNN["convs"]] + [MNIST_CNN["fc"][1]]
    rows.append(_row("mnist_slnn_cnn", 784, degrees, total, 10,
                     params_shared_fc_slaf=total_shared, layers=layers,
                     relu_baseline_params=relu_baseline,
                     note="analytic count; max-pooling makes the real network piecewise "
                          "polynomial, the bound is for average pooling"))
    ctx.log(f"mnist_slnn_cnn: {total:,} parameters ({total_shared:,} with a shared FC SLAF; "
            f"the ReLU baseline counted the same way: {relu_baseline:,}), "
            f"K = {rows[-1]['K']}, C(864, 80) = {_fmt_int(rows[-1]['poly_features'])} per "
            f"output")
    table = _table_markdown(rows)
    ctx.log(table)
    ds = sorted({2, 13, 784})
    curves = {"K": list(CURVE_K),
              "log10_C": {str(d): [math.log10(math.comb(d + K, K)) for K in CURVE_K] for d in ds}}
    results = {"config": {"networks": {n: {"widths": list(w), "degrees": list(k)}
                                       for n, (w, k, _) in DENSE_NETS.items()},
                          "mnist_cnn": MNIST_CNN, "seed": ctx.seed,
                          "seed_rule": "one default_rng(seed), drawn in the order of the rows "
                                       "(each network's weights, then, if it is expanded, its "
                                       "64 check points)"},
               "paper": PAPER, "rows": rows, "curves": curves, "table_markdown": table}
    _figure(results, ctx.path(".png"))
    md = ["# RQ5: SLNN parameters vs polynomial features", "",
          "K = product of the SLAF degrees (the degree bound); C(d+K, K) = number of monomials of "
          "degree <= K in d inputs, per output; log10 ratio = log10(C(d+K, K) / SLNN params).", "",
          table, "", "MNIST SLNN (analytic, per layer):", ""]
    md += [f"* {n}: {p:,}" for n, p in layers]
    md += ["", f"Total {total:,} ({total_shared:,} with one shared SLAF on FC1024; the paper: "
           f"about 1.63M). The ReLU baseline counted the same way: {relu_baseline:,} (the "
           f"paper: 3.27M). C(864, 80) = {rows[-1]['poly_features']} per output.", ""]
    from ..utils import atomic_write_bytes
    atomic_write_bytes(ctx.path(".md"), "\n".join(md).encode())
    return results
