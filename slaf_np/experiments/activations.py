"""RQ1: how well does a degree-k polynomial SLAF approximate the standard activations?

Goal
    Claim 1 of the paper (docs/paper.md section 1): with a polynomial basis, a SLAF
    ``c_0 + sum_i c_i g_i(z)`` can approximate ReLU, sigmoid, tanh and the rest. We measure how
    well, on the ranges pre-activations actually take: least-squares fits of degree k = 1..16 to
    eight activations on [-a, a], a in {1, 3, 5}, in the power, Chebyshev, Legendre and Hermite
    bases (:func:`slaf_np.approx.fit_activation`: basis evaluated at the scaled variable t = x / a,
    Chebyshev nodes, column-scaled SVD least squares). Recorded per fit: the sup error (20,001
    points), the RMS error, the sup error of the same expansion evaluated in float32, and the
    condition number of the least-squares problem.

Paper's numbers
    None survive (docs/paper.md s. 4: "Approximating standard activations with SLAF (RQ1) ... are
    claimed but no numbers survive"); these are the first.

What to expect
    All four bases span the same polynomials, so in float64 they give the same fit; they differ in
    conditioning, which shows up in float32 and for raw (unscaled) inputs. Smooth activations
    converge geometrically in k (faster on small intervals); ReLU-like kinks converge like 1/k: for
    ReLU the Chebyshev least-squares error tends to a / (pi k), about 2.3 times Bernstein's best
    possible 0.1401 a / k, and Jackson's theorem bounds the best error by (pi / 2) L a / (k + 1).

Outputs
    ``activations.json`` (all errors, Chebyshev coefficients, the degree table), ``activations.md``
    (the table), ``activations.png`` (sup error vs degree, Chebyshev, one panel per a, with the
    Jackson line), ``activations_bases.png`` (the bases compared on tanh, scaled and raw, float64
    and float32 errors, condition numbers), ``activations_fits.png`` (fits of degree 2, 4, 8, 16
    on [-3, 3]). The figures are drawn from the JSON-able results only.
    ``--quick``: degrees 1..8, a = 3, four activations, two bases (a few seconds).
"""

from __future__ import annotations

import math

import numpy as np

from . import register

ACTS = ("relu", "leaky_relu", "sigmoid", "tanh", "silu", "elu", "gelu", "softplus")
BASES = ("power", "chebyshev", "legendre", "hermite")
DEGREES = tuple(range(1, 17))
HALF_WIDTHS = (1, 3, 5)
TOL = 1e-2                      # the sup error at which an activation counts as "fitted"
SEARCH_MAX = 256                # Chebyshev degree searched for targets not fitted by degree 16
BASES_FIG_ACT = "tanh"          # figure (ii): the bases compared on this activation
FITS_FIG = {"acts": ("relu", "tanh", "sigmoid", "silu"), "degrees": (2, 4, 8, 16), "a": 3}
QUICK = {"acts": ("relu", "tanh", "sigmoid", "silu"), "bases": ("power", "chebyshev"),
         "degrees": tuple(range(1, 9)), "half_widths": (3,)}
PAPER = ("No numbers survive: docs/paper.md section 4 says approximating standard activations with "
         "SLAF (RQ1) is claimed in the paper but no numbers survive. These are the first.")


def _errors(act, basis, a, degrees, raw=False, keep_coef=False):
    from ..approx import fit_activation

    rec = {"sup": [], "l2": [], "sup_float32": [], "cond": []}
    coef = {}
    for k in degrees:
        fit = fit_activation(act, k, basis=basis, interval=(-a, a), raw=raw)
        rec["sup"].append(fit.sup_error)
        rec["l2"].append(fit.l2_error)
        rec["sup_float32"].append(fit.sup_error_float32)
        rec["cond"].append(fit.cond)
        if keep_coef:
            coef[str(k)] = fit.coef.tolist()
    return rec, coef


def _first_below(sup, degrees, tol=TOL):
    return next((k for k, e in zip(degrees, sup, strict=True) if e <= tol), None)


def _search_degree(act, a, k_last, sup_last, tol=TOL, kmax=SEARCH_MAX):
    """First Chebyshev degree > ``k_last`` whose fit reaches ``tol`` (None if beyond ``kmax``).

    Starts from the 1/k extrapolation ``k_last * sup_last / tol`` (the rate of the kinked targets)
    and steps down or up from there, so it assumes the error does not increase with the degree.
    """
    from ..approx import fit_activation

    def ok(k):
        return fit_activation(act, k, basis="chebyshev", interval=(-a, a)).sup_error <= tol

    k = min(kmax, max(k_last + 1, int(k_last * sup_last / tol)))
    if ok(k):
        while k - 1 > k_last and ok(k - 1):
            k -= 1
        return k
    while k < kmax:
        k += 1
        if ok(k):
            return k
    return None


def _table_markdown(first, acts, half_widths, bases_, searched):
    """The degree table (Chebyshev), and a line saying where the other bases differ."""
    lines = [f"Degree k at which the least-squares SLAF fit first reaches sup error <= {TOL:g} on "
             f"[-a, a] (Chebyshev basis; '-' = not by k = {max(DEGREES)}, in brackets the first "
             f"Chebyshev degree that does, searched up to {SEARCH_MAX}).", "",
             "| activation | " + " | ".join(f"a = {a}" for a in half_widths) + " |",
             "|---|" + "---|" * len(half_widths)]
    for act in acts:
        cells = []
        for a in half_widths:
            k = first["chebyshev"][str(a)][act]
            kk = searched.get(str(a), {}).get(act, "none")
            more = "" if kk == "none" else f" ({kk if kk is not None else f'>{SEARCH_MAX}'})"
            cells.append(str(k) if k is not None else "-" + more)
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    diff = [f"{b}, a = {a}, {act}: {first[b][str(a)][act]}" for b in bases_ for a in half_widths
            for act in acts if first[b][str(a)][act] != first["chebyshev"][str(a)][act]]
    others = [b for b in bases_ if b != "chebyshev"]
    what = f"The {', '.join(others)} " + ("bases give" if len(others) > 1 else "basis gives")
    lines += ["", f"{what} the same degree in every cell." if not diff else
              "Where the other bases differ: " + "; ".join(diff) + "."]
    return "\n".join(lines)


def _error_table(errors, acts, half_widths, degrees, show=(4, 8, 16)):
    ks = [k for k in show if k in degrees]
    lines = ["Sup error of the Chebyshev least-squares fit at degree " + ", ".join(map(str, ks))
             + " (float64).", "",
             "| activation | " + " | ".join(f"a = {a}, k = {k}" for a in half_widths for k in ks)
             + " |", "|---|" + "---|" * (len(ks) * len(half_widths))]
    for act in acts:
        cells = [f"{errors['chebyshev'][str(a)][act]['sup'][degrees.index(k)]:.1e}"
                 for a in half_widths for k in ks]
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _bases_table(errors, act, bases_, half_widths, degrees):
    k = degrees[-1]
    lines = [f"{act}, degree {k}: sup error in float64 / in float32 / condition number of the "
             f"least-squares problem, basis of t = x / a (Hermite: 3x / a) or of raw x.", "",
             "| basis | " + " | ".join(f"a = {a}" for a in half_widths) + " |",
             "|---|" + "---|" * len(half_widths)]
    for b in bases_:
        for key in (b, f"{b}_raw"):
            cells = []
            for a in half_widths:
                r = errors[key][str(a)][act]
                cells.append(" / ".join(f"{r[q][-1]:.1e}" for q in ("sup", "sup_float32", "cond")))
            lines.append(f"| {key.replace('_raw', ' (raw x)')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- figures

def _figure_errors(res, path):
    from matplotlib.figure import Figure

    from ..approx import jackson_bound
    from ..utils import save_figure

    cfg = res["config"]
    deg = np.array(cfg["degrees"])
    hw = cfg["half_widths"]
    fig = Figure(figsize=(4.2 * len(hw), 3.8))
    axes = fig.subplots(1, len(hw), squeeze=False, sharey=True)[0]
    for ax, a in zip(axes, hw, strict=True):
        for act in cfg["activations"]:
            ax.semilogy(deg, res["errors"]["chebyshev"][str(a)][act]["sup"], marker=".", label=act)
        ax.semilogy(deg, jackson_bound(1.0, a, deg), "k--", lw=1,
                    label="Jackson, L = 1: $\\pi a / (2(k+1))$")
        ax.axhline(TOL, color="grey", lw=0.8, ls=":")
        ax.set_title(f"[-{a}, {a}]", fontsize=10)
        ax.set_xlabel("degree k")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("sup error (Chebyshev basis)")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.suptitle("SLAF least-squares fits to standard activations: sup error vs degree",
                 fontsize=11)
    save_figure(fig, path)


def _figure_bases(res, path):
    from matplotlib.figure import Figure

    from ..utils import save_figure

    cfg = res["config"]
    deg = np.array(cfg["degrees"])
    hw, act = cfg["half_widths"], cfg["bases_figure_activation"]
    rows = (("sup", "sup error (float64)"), ("sup_float32", "sup error (float32 evaluation)"),
            ("cond", "condition number"))
    fig = Figure(figsize=(4.0 * len(hw), 9.0))
    axes = fig.subplots(len(rows), len(hw), squeeze=False, sharex=True)
    colours = dict(zip(BASES, ("C0", "C1", "C2", "C3"), strict=True))
    for j, a in enumerate(hw):
        for i, (key, label) in enumerate(rows):
            ax = axes[i, j]
            for b in cfg["bases"]:
                for raw, ls in ((False, "-"), (True, "--")):
                    rec = res["errors"].get(b + ("_raw" if raw else ""), {}).get(str(a), {})
                    if act in rec:
                        ax.semilogy(deg, rec[act][key], ls, color=colours[b], marker=".", ms=3,
                                    label=f"{b}{' (raw x)' if raw else ''}")
            ax.grid(alpha=0.3, which="both")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"{act} on [-{a}, {a}]", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("degree k")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle("Bases compared: basis of t = x / a (solid; Hermite t = 3x / a) or of raw x "
                 "(dashed)", fontsize=11)
    save_figure(fig, path)


def _figure_fits(res, path):
    from matplotlib.figure import Figure

    from ..approx import ACTIVATIONS
    from ..utils import save_figure

    spec = res["config"]["fits_figure"]
    a = spec["a"]
    x = np.linspace(-a, a, 601)
    fig = Figure(figsize=(3.6 * len(spec["acts"]), 3.4))
    axes = fig.subplots(1, len(spec["acts"]), squeeze=False)[0]
    for ax, act in zip(axes, spec["acts"], strict=True):
        ax.plot(x, ACTIVATIONS[act](x), "k", lw=2.2, alpha=0.35, label=act)
        for k in spec["degrees"]:
            coef = res["coef_chebyshev"][str(a)][act][str(k)]
            ax.plot(x, np.polynomial.chebyshev.chebval(x / a, coef), lw=1, label=f"k = {k}")
        ax.set_title(act, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Least-squares SLAF fits on [-{a}, {a}] (Chebyshev basis of x / {a})",
                 fontsize=11)
    save_figure(fig, path)


# ----------------------------------------------------------------------------------- the run

@register("activations", "RQ1: SLAF polynomial fits to 8 activations, degree 1-16, 4 bases")
def run(ctx) -> dict:
    from ..approx import ACTIVATIONS, BERNSTEIN_CONSTANT, fit_activation

    acts = QUICK["acts"] if ctx.quick else ACTS
    bases_ = QUICK["bases"] if ctx.quick else BASES
    degrees = QUICK["degrees"] if ctx.quick else DEGREES
    half_widths = QUICK["half_widths"] if ctx.quick else HALF_WIDTHS
    fits_fig = {**FITS_FIG, "degrees": [k for k in FITS_FIG["degrees"] if k in degrees]}
    config = {"activations": list(acts), "bases": list(bases_), "degrees": list(degrees),
              "half_widths": list(half_widths), "tol": TOL, "method": "lstsq",
              "n_points": "20 k + 200 Chebyshev nodes", "sup_grid": 20_001,
              "bases_figure_activation": BASES_FIG_ACT, "fits_figure": fits_fig,
              "search_max": None if ctx.quick else SEARCH_MAX}
    ctx.log(f"fitting {len(acts)} activations x {len(bases_)} bases x a in {list(half_widths)} "
            f"x degrees {degrees[0]}..{degrees[-1]}")

    errors = {b: {str(a): {} for a in half_widths} for b in bases_}
    errors.update({f"{b}_raw": {str(a): {} for a in half_widths} for b in bases_})
    coef = {str(a): {} for a in half_widths}
    for a in half_widths:
        for act in acts:
            for b in bases_:
                rec, cf = _errors(act, b, a, degrees, keep_coef=b == "chebyshev")
                errors[b][str(a)][act] = rec
                if cf:
                    coef[str(a)][act] = cf
            if act == BASES_FIG_ACT:
                for b in bases_:
                    errors[f"{b}_raw"][str(a)][act] = _errors(act, b, a, degrees, raw=True)[0]
            sup = errors["chebyshev"][str(a)][act]["sup"] if "chebyshev" in bases_ else []
            ctx.log(f"a = {a} {act:>10}: chebyshev sup error "
                    + " ".join(f"{e:.1e}" for e in sup))

    first = {b: {str(a): {act: _first_below(errors[b][str(a)][act]["sup"], degrees)
                          for act in acts} for a in half_widths} for b in bases_}
    searched: dict = {}
    if not ctx.quick and "chebyshev" in bases_:
        for a in half_widths:
            for act in acts:
                if first["chebyshev"][str(a)][act] is None:
                    k = _search_degree(act, a, degrees[-1],
                                       errors["chebyshev"][str(a)][act]["sup"][-1])
                    searched.setdefault(str(a), {})[act] = k
                    ctx.log(f"a = {a} {act:>10}: sup error <= {TOL:g} first at Chebyshev degree "
                            f"{k if k is not None else f'> {SEARCH_MAX}'}")
    table = _table_markdown(first, acts, half_widths, bases_, searched)
    ctx.log(table)

    # ReLU on [-1, 1]: k * sup error against Bernstein's best (0.2802 / 2 for max(x, 0)).
    relu_rate = None
    if "relu" in acts and "chebyshev" in bases_:
        ks = [k for k in (4, 8, 16, 32, 64) if not ctx.quick or k <= degrees[-1]]
        relu_rate = {"degrees": ks,
                     "k_times_sup_error": [k * fit_activation("relu", k, interval=(-1, 1)).sup_error
                                           for k in ks],
                     "chebyshev_lstsq_limit_1_over_pi": 1 / math.pi,
                     "best_possible_limit_bernstein_over_2": BERNSTEIN_CONSTANT / 2}

    # The Hermite scale t = s x / a: s = 3 (default) against s = sqrt 3 and s = sqrt(2k + 1).
    kh = degrees[-1]
    hermite_scale = [{"scale": s, **{key: getattr(fit_activation("tanh", kh, "hermite", (-3, 3),
                                                                 scale=s), key)
                                     for key in ("cond", "sup_error", "sup_error_float32")}}
                     for s in (math.sqrt(3), 3.0, math.sqrt(2 * kh + 1))]

    results = {
        "config": config,
        "paper": PAPER,
        "activations": {n: {"formula": ACTIVATIONS[n].formula,
                            "lipschitz": ACTIVATIONS[n].lipschitz,
                            "smooth": ACTIVATIONS[n].smooth} for n in acts},
        "errors": errors,
        "coef_chebyshev": coef,
        "first_degree_below_tol": first,
        "chebyshev_degree_searched": searched,
        "relu_rate": relu_rate,
        "hermite_scale_tanh_a3": {"degree": kh, "fits": hermite_scale},
        "table_markdown": table,
    }
    _figure_errors(results, ctx.path(".png"))
    _figure_bases(results, ctx.path("_bases.png"))
    _figure_fits(results, ctx.path("_fits.png"))
    md = ["# RQ1: SLAF fits to standard activations", "", PAPER, "", table, "",
          _error_table(errors, acts, half_widths, list(degrees)), "",
          _bases_table(errors, BASES_FIG_ACT, bases_, half_widths, list(degrees)), ""]
    if relu_rate:
        md += ["ReLU on [-1, 1], k * sup error of the Chebyshev least-squares fit: "
               + ", ".join(f"k={k}: {v:.4f}" for k, v in zip(relu_rate["degrees"],
                                                              relu_rate["k_times_sup_error"],
                                                              strict=True))
               + f" (limit 1/pi = {1 / math.pi:.4f}; best possible, Bernstein: "
               f"{BERNSTEIN_CONSTANT / 2:.4f}).", ""]
    from ..utils import atomic_write_bytes
    atomic_write_bytes(ctx.path(".md"), "\n".join(md).encode())
    return results
