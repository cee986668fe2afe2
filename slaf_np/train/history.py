"""The record of a training run: :class:`History`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records of :func:`slaf_np.train.fit` (lists of equal length, one entry per
    finished epoch).

    ``val_*`` hold ``None`` without validation and ``*_metric`` ``None`` without a metric; ``lr``
    is the default group's rate at the epoch's last step; ``seconds`` include validation (and,
    for an epoch interrupted and resumed, the time spent in it before and after).
    ``evals`` holds ``(iteration, value)`` pairs of the validation metric (or the validation loss
    without a metric) every ``eval_every`` iterations.
    """

    train_loss: list[float] = field(default_factory=list)
    train_metric: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_metric: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    metric: str | None = None
    best_epoch: int | None = None
    iterations: int = 0

    def to_dict(self) -> dict:
        """A JSON-able dict (lists of floats; ``evals`` as lists of two numbers)."""
        d = asdict(self)
        d["evals"] = [list(e) for e in self.evals]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The inverse of :meth:`to_dict` (a checkpoint's history, read back)."""
        return cls(**{**d, "evals": [tuple(e) for e in d["evals"]]})
