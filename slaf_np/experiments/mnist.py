r"""MNIST: the paper's SLNN CNN against its ReLU CNN and the other SLAF routines (paper s. 4).

Goal
    The paper's "Comparison on MNIST": SLAF 99.55 %, ReLU 99.34 %, EMFN 99.46, MS 99.44, GC 99.43
    (best test accuracy over iterations 5k-25k, evaluated every 100). A grid of units
    (:mod:`slaf_np.experiments.classification`): ``slaf`` and ``relu`` with seeds 0 and 1, the
    routines ``emfn``, ``ms``, ``gc`` with seed 0::

        slaf-np run mnist --model slaf --seed 1     one unit (resumes after a kill)
        slaf-np run mnist                           every unfinished unit
        slaf-np report mnist                        figures/mnist.{json,md,png}

Data: the paper's split, 55,000 train / 5,000 validation (the first 5,000 training images) /
10,000 test, pixels / 255. Every unit: 25,000 iterations of batch 50 (22.7 epochs; the last one
is cut at iteration 25,000).

Models (the networks of :mod:`slaf_np.models`, one source of truth):

* ``slaf``: :func:`~slaf_np.models.mnist_slnn` (SLAF k = 4, 4, 5, standardised powers); Adam
  1e-2, 1e-3 from iteration 3,000, 5e-5 from 5,000 (the paper's schedule).
* ``relu``: :func:`~slaf_np.models.mnist_relu_cnn`; Adam 1e-3, 1e-4 from 3,000 (the paper's).
* ``emfn``, ``ms``, ``gc``: the SLNN CNN's layout with each SLAF replaced by a routine's scaling
  layer and unstandardised SLAF (docs/paper.md s. 3, built as
  :func:`slaf_np.experiments.spirals.build` composes them): EMFN ``SampleMaxScale()`` then the
  Fourier basis, 4 sines + 4 cosines, one coefficient vector per layer; MS ``MaxScale(C)`` then
  raw powers (k = 4, 4, 5, per channel / neuron); GC ``Affine(C, eps=1e-3)`` (the authors' MNIST
  batch normalisation that never left its initial statistics) then raw powers, gradients clipped
  at global norm 5.0. Assumed (the scripts' schedules are not known): the SLNN's Adam schedule.

Evaluation frequency (measured, the rule of the issue: every 100 iterations as the paper unless
that costs more than 20 % of the run). With one BLAS thread a training iteration took 20 ms
(SLNN) and 36 ms (ReLU CNN) on an idle core, 41 ms and 71 ms with the 2 cores shared by other
jobs (300- and 200-iteration units on the full data). One evaluation (recalibrating the SLAF
statistics on ``CAL_SIZE = 2000`` training images, then scoring 5,000 validation + 10,000 test
images) took 2.2 s for the SLNN on an idle core (6.8 s shared, with 5,000 calibration images)
and 6.1 s shared for the ReLU CNN. Every 100 iterations (2 s of SLNN training) would add
110 %; every 1,000 adds 2.2 / (1,000 x 0.020) = 11 % (SLNN) and 6.1 / 71 = 9 % (ReLU CNN).
So ``EVAL_EVERY = 1000``: 25 evaluations, iterations 1,000 to 25,000. The paper's best-on-test
number is a maximum over 201 evaluations, ours over 25 (21 of them in 5k-25k): a maximum over
fewer noisy evaluations is lower, one more reason to read the honest metrics beside it. A unit
takes about 9-18 min (SLNN, MS, GC: 20-33 ms an iteration on an idle core) and 16-31 min (ReLU
CNN). MS and GC took 23 ms an iteration. EMFN's Fourier basis first ran on the kernels' NumPy
twin: a forward + backward of its first SLAF on (50, 16, 28, 28) took 440 ms, an iteration
0.45 s, a unit about 3.7 hours. It now runs on the kernels as a Chebyshev recurrence in
:math:`\sin(\pi x / 2)` (:mod:`slaf_np.bases`), about 4 ms for that SLAF on one core (the
twin: 174 ms), so its unit takes about as long as the others; its measured time is in the
unit's record.
"""

from __future__ import annotations

import numpy as np

from .. import models
from . import register
from .classification import Budget, Grid, ModelSpec
from .classification_report import run_and_report

ITERATIONS, BATCH = 25_000, 50
EVAL_EVERY = 1000
CAL_SIZE = 2000
QUICK = Budget(iterations=30, batch=16, eval_every=10, cal_size=64)
QUICK_SIZES = (256, 128, 128)   # train, validation, test images of --quick
CLIP_GC = 5.0


def slaf_schedule(iterations: int) -> list:
    """The paper's SLNN schedule; for a shorter run (``--quick``) the same fractions."""
    f = iterations / ITERATIONS
    return [(0, 1e-2), (max(1, round(3000 * f)), 1e-3), (max(2, round(5000 * f)), 5e-5)]


def relu_schedule(iterations: int) -> list:
    return [(0, 1e-3), (max(1, round(3000 * iterations / ITERATIONS)), 1e-4)]


def routine_cnn(routine: str, rng, dtype=np.float32):
    """The SLNN CNN with each SLAF replaced by ``routine``'s scaling layer + raw SLAF."""
    from ..nn import SLAF, Affine, MaxScale, SampleMaxScale, Sequential

    def act(c: int, k: int):
        if routine == "emfn":
            return Sequential(SampleMaxScale(dtype=dtype),
                              SLAF(c, 8, basis="fourier", shared=True, normalize=False, rng=rng,
                                   dtype=dtype))
        if routine == "ms":
            return Sequential(MaxScale(c, dtype=dtype),
                              SLAF(c, k, normalize=False, rng=rng, dtype=dtype))
        if routine == "gc":
            return Sequential(Affine(c, eps=1e-3, dtype=dtype),
                              SLAF(c, k, normalize=False, rng=rng, dtype=dtype))
        raise ValueError(f"routine_cnn: unknown routine {routine!r}; known: emfn, ms, gc")

    return models._mnist_cnn(act, (16, 32, 1024), (4, 4, 5), 28, 10, 0.5, "glorot", rng, dtype,
                             f"routine_cnn({routine!r})")


def load(data_dir, quick: bool):
    """The paper's split as float32 (N, 1, 28, 28) / 255; ``quick``: the first few images."""
    from ..datasets import load_mnist

    splits = load_mnist(data_dir, download=False)
    sizes = QUICK_SIZES if quick else (None, None, None)
    return tuple((s.x[:n, None].astype(np.float32) / np.float32(255), s.y[:n])
                 for s, n in zip(splits, sizes, strict=True))


def _adam(lr: float, clip: float | None = None):
    from ..train.optim import Adam

    return lambda model: Adam(model, lr=lr, clip_norm=clip)


def _routine(name: str, clip=None, paper=None) -> ModelSpec:
    return ModelSpec(lambda rng, quick: routine_cnn(name, rng), _adam(1e-2, clip), slaf_schedule,
                     (0,), f"{name.upper()} routine in the SLNN CNN (SLNN schedule"
                           f"{', clip 5.0' if clip else ''})", paper=paper)


GRID = Grid(
    name="mnist",
    models={
        "slaf": ModelSpec(lambda rng, quick: models.mnist_slnn(rng=rng), _adam(1e-2),
                          slaf_schedule, (0, 1), "SLNN CNN, SLAF k=4,4,5 (paper schedule)",
                          paper=99.55),
        "relu": ModelSpec(lambda rng, quick: models.mnist_relu_cnn(rng=rng), _adam(1e-3),
                          relu_schedule, (0, 1), "ReLU CNN (paper schedule)", paper=99.34),
        "emfn": _routine("emfn", paper=99.46),
        "ms": _routine("ms", paper=99.44),
        "gc": _routine("gc", CLIP_GC, paper=99.43),
    },
    load=load,
    full=Budget(ITERATIONS, BATCH, EVAL_EVERY, CAL_SIZE),
    quick=QUICK,
    activations=("slaf",),
    best_from=5000,     # the paper's best is over iterations 5k-25k
    notes={"eval_every": f"every {EVAL_EVERY} iterations, not 100: an evaluation (2.2 s SLNN, "
                         f"6 s ReLU) every 100 iterations would cost about as much as the "
                         f"training; every {EVAL_EVERY} costs about 10 % (module docstring)",
           "paper_metric": "the paper's best test accuracy is over 201 evaluations in 5k-25k",
           "emfn_time": "EMFN's Fourier SLAF runs on the kernels (a Chebyshev recurrence in "
                        "sin(pi x / 2)); on the NumPy twin, as first run, a unit took about "
                        "3.7 hours (module docstring)"},
)


@register("mnist", "MNIST: SLNN CNN vs ReLU CNN and the EMFN / MS / GC routines (units; "
          "docs/paper.md section 4)", grid=GRID)
def run(ctx) -> dict:
    return run_and_report(GRID, ctx)
