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
    ``activations.json`` (all errors, Chebyshev coefficients, the degree table, ``seed_rule``:
    no case draws a random number), ``activations.md`` (the table), ``activations.png`` (sup
    error vs degree, Chebyshev, one panel per a, with the Jackson line and the 1e-2 tolerance;
    LeakyReLU(0.01)'s error is 0.99 times ReLU's, so the two are told apart by line style),
    ``activations_bases.png`` (the bases compared on tanh, scaled and raw, float64 and float32
    errors, condition numbers; a panel whose curves overlap, because the bases give the same
    polynomial, says so), ``activations_fits.png`` (fits of degree 2, 4, 8, 16 on [-3, 3]). The
    figures are drawn from the JSON-able results only.
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
SEED_RULE = ("none drawn: every fit is least squares at fixed points (Chebyshev nodes and a "
             "uniform grid) and every sup error is taken on a fixed grid, so no case uses a seed "
             "and the run's top-level seed changes nothing")
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

# Line styles of the error figure: ReLU and LeakyReLU(0.01) have errors in the ratio 0.99 (below),
# so they are told apart by style and marker, not by position.
ACT_STYLES = {"relu": ("-", "o"), "leaky_relu": ("--", "x"), "sigmoid": ("-", "."),
              "tanh": ("-", "."), "silu": ("-", "."), "elu": ("-", "."), "gelu": ("-", "."),
              "softplus": ("-", ".")}
BASIS_MARKERS = {"power": "o", "chebyshev": "s", "legendre": "^", "hermite": "D"}
OVERLAP_RTOL = 1e-2     # curves whose values agree to 1 % are drawn on top of each other


def _relative_spread(curves) -> float:
    """max |e - e_0| / e_0 over the curves (lists of positive values) against the first one."""
    ref = np.asarray(curves[0], dtype=np.float64)
    return max(float(np.max(np.abs(np.asarray(c) - ref) / ref)) for c in curves)


def _leaky_note(res) -> str | None:
    """The sentence that says why LeakyReLU's curves lie on ReLU's (None if either is missing).

    leaky_relu(x) = 0.99 relu(x) + 0.01 x, and degree k >= 1 fits the linear part exactly, so the
    least-squares error of LeakyReLU is 0.99 times ReLU's at every degree: the two curves differ
    by 1 %, invisible on a log scale.
    """
    cfg, err = res["config"], res["errors"].get("chebyshev", {})
    if not {"relu", "leaky_relu"} <= set(cfg["activations"]) or not err:
        return None
    ratios = np.concatenate([np.asarray(err[str(a)]["leaky_relu"]["sup"])
                             / np.asarray(err[str(a)]["relu"]["sup"]) for a in cfg["half_widths"]])
    lo, hi = f"{ratios.min():.3g}", f"{ratios.max():.3g}"
    ratio = lo if lo == hi else f"{lo}-{hi}"
    return (f"LeakyReLU(0.01) = 0.99 ReLU + 0.01 x: its sup error is {ratio} times ReLU's, "
            "so the two curves coincide at this scale "
            "(ReLU: solid, open circles; LeakyReLU: dashed, crosses)")


def _figure_errors(res, path):
    """Sup error vs degree, Chebyshev basis, one panel per half-width a; returns the Figure."""
    from matplotlib.figure import Figure

    from ..approx import jackson_bound
    from ..utils import save_figure

    cfg = res["config"]
    deg = np.array(cfg["degrees"])
    hw = cfg["half_widths"]
    fig = Figure(figsize=(4.2 * len(hw) + 0.6, 4.6), layout="constrained")
    axes = fig.subplots(1, len(hw), squeeze=False, sharey=True)[0]
    for ax, a in zip(axes, hw, strict=True):
        for i, act in enumerate(cfg["activations"]):
            ls, marker = ACT_STYLES.get(act, ("-", "."))
            ax.semilogy(deg, res["errors"]["chebyshev"][str(a)][act]["sup"], ls=ls, marker=marker,
                        ms=4 if marker != "." else 6, mfc="none" if marker == "o" else None,
                        color=f"C{i}", label=act, zorder=3 if act == "leaky_relu" else 2)
        ax.semilogy(deg, jackson_bound(1.0, a, deg), "k--", lw=1,
                    label="Jackson, L = 1: $\\pi a / (2(k+1))$")
        ax.axhline(TOL, color="grey", lw=0.8, ls=":",
                   label=f"tolerance {TOL:g} (the degree table's threshold)")
        ax.set_title(f"[-{a}, {a}]", fontsize=10)
        ax.set_xlabel("degree k")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("sup error (Chebyshev basis)")
    fig.legend(handles=axes[0].get_legend_handles_labels()[0], loc="outside lower center",
               ncol=5, fontsize=7)
    note = _leaky_note(res)
    fig.suptitle("SLAF least-squares fits to standard activations: sup error vs degree"
                 + (f"\n{note}" if note else ""), fontsize=11 if not note else 9)
    save_figure(fig, path)
    return fig


def _figure_bases(res, path):
    """The bases compared on one activation: float64 and float32 sup errors, condition numbers.

    All four bases span the same polynomials, so in float64 they give the same least-squares
    polynomial and their error curves lie on one another; a panel whose curves agree to
    ``OVERLAP_RTOL`` says so in a note. Returns the Figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from ..utils import save_figure

    cfg = res["config"]
    deg = np.array(cfg["degrees"])
    hw, act = cfg["half_widths"], cfg["bases_figure_activation"]
    rows = (("sup", "sup error (float64)"), ("sup_float32", "sup error (float32 evaluation)"),
            ("cond", "condition number"))
    fig = Figure(figsize=(4.0 * len(hw) + 0.6, 10.0), layout="constrained")
    axes = fig.subplots(len(rows), len(hw), squeeze=False, sharex=True)
    colours = dict(zip(BASES, ("C0", "C1", "C2", "C3"), strict=True))
    for j, a in enumerate(hw):
        for i, (key, label) in enumerate(rows):
            ax, drawn = axes[i, j], []
            for b in cfg["bases"]:
                for raw, ls in ((False, "-"), (True, "--")):
                    rec = res["errors"].get(b + ("_raw" if raw else ""), {}).get(str(a), {})
                    if act in rec:
                        ax.semilogy(deg, rec[act][key], ls, color=colours[b],
                                    marker=BASIS_MARKERS.get(b, "."), ms=4, mfc="none",
                                    label=f"{b}{' (raw x)' if raw else ''}")
                        drawn.append(rec[act][key])
            if len(drawn) > 1 and key != "cond":
                spread = _relative_spread(drawn)
                if spread <= OVERLAP_RTOL:
                    ax.text(0.97, 0.95, f"all {len(drawn)} curves overlap:\nthe same polynomial"
                            f"\n(relative spread {spread:.0e})", transform=ax.transAxes,
                            ha="right", va="top", fontsize=7,
                            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
            ax.grid(alpha=0.3, which="both")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"{act} on [-{a}, {a}]", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("degree k")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(handles=axes[0, 0].get_legend_handles_labels()[0], loc="outside lower center",
               ncol=4, fontsize=7)
    fig.suptitle("Bases compared: basis of t = x / a (solid; Hermite t = 3x / a) or of raw x "
                 "(dashed).\nThe bases span the same polynomials, so the least-squares fit is one "
                 "polynomial and the float64 errors overlap;\nthey differ in conditioning "
                 "(bottom row) and where rounding shows (float32).", fontsize=10)
    save_figure(fig, path)
    return fig


def _figure_fits(res, path):
    """The fits of a few degrees beside their targets on [-a, a]; returns the Figure."""
    from matplotlib.figure import Figure

    from ..approx import ACTIVATIONS
    from ..utils import save_figure

    spec = res["config"]["fits_figure"]
    a = spec["a"]
    x = np.linspace(-a, a, 601)
    fig = Figure(figsize=(3.6 * len(spec["acts"]), 3.8), layout="constrained")
    axes = fig.subplots(1, len(spec["acts"]), squeeze=False)[0]
    for ax, act in zip(axes, spec["acts"], strict=True):
        ax.plot(x, ACTIVATIONS[act](x), "k", lw=2.2, alpha=0.35, label=act)
        for k in spec["degrees"]:
            coef = res["coef_chebyshev"][str(a)][act][str(k)]
            ax.plot(x, np.polynomial.chebyshev.chebval(x / a, coef), lw=1, label=f"k = {k}")
        ax.set_title(act, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    others = [b for b in res["config"]["bases"] if b != "chebyshev"]
    same = (f"; the {', '.join(others)} bases give the same polynomial" if others else "")
    fig.suptitle(f"Least-squares SLAF fits on [-{a}, {a}] (Chebyshev basis of x / {a}{same})\n"
                 "a fit that cannot be seen lies on its target (grey)", fontsize=10)
    save_figure(fig, path)
    return fig


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
        "seeds": {},
        "seed_rule": SEED_RULE,
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
