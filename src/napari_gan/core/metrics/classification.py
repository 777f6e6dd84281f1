"""Classification scoring: accuracy, per-class precision/recall/F1 and the
confusion matrix of predicted against true class names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ._common import _ratio

__all__ = ["ClassificationReport", "classification_report"]


@dataclass(frozen=True)
class ClassificationReport:
    """What :func:`classification_report` returns.

    Attributes
    ----------
    classes : tuple of str
        Class names, in the order of the confusion matrix's rows and columns.
    accuracy : float
        Fraction of items whose predicted class is the true one.
    precision, recall, f1 : dict of str -> float
        Per class (0.0 where the denominator is 0).
    support : dict of str -> int
        Number of items of each true class.
    confusion : ndarray of int64, shape (K, K)
        ``confusion[i, j]``: items of true class ``classes[i]`` predicted as ``classes[j]``.
    """

    classes: tuple[str, ...]
    accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def macro_f1(self) -> float:
        return float(np.mean([self.f1[c] for c in self.classes])) if self.classes else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: the confusion matrix as nested lists."""
        out = asdict(self)
        out["confusion"] = self.confusion.tolist()
        out["classes"] = list(self.classes)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ClassificationReport:
        return cls(
            classes=tuple(d["classes"]),
            accuracy=float(d["accuracy"]),
            precision={k: float(v) for k, v in d["precision"].items()},
            recall={k: float(v) for k, v in d["recall"].items()},
            f1={k: float(v) for k, v in d["f1"].items()},
            support={k: int(v) for k, v in d["support"].items()},
            confusion=np.asarray(d["confusion"], dtype=np.int64).reshape(len(d["classes"]), len(d["classes"])),
        )

    def as_text(self) -> str:
        """A plain-text table: accuracy, per-class precision/recall/F1/support, confusion matrix."""
        width = max([len(c) for c in self.classes] + [5])
        lines = [f"accuracy {self.accuracy:.3f} on {self.n} items", ""]
        lines.append(f"{'class':<{width}}  precision  recall    F1  support")
        for c in self.classes:
            lines.append(
                f"{c:<{width}}  {self.precision[c]:9.3f}  {self.recall[c]:6.3f}  {self.f1[c]:.3f}  {self.support[c]:7d}"
            )
        lines += ["", "confusion (rows: true, columns: predicted)"]
        cell = max([len(str(int(self.confusion.max(initial=0))))] + [min(len(c), 8) for c in self.classes])
        lines.append(" " * width + "  " + " ".join(f"{c[:8]:>{cell}}" for c in self.classes))
        for c, row in zip(self.classes, self.confusion):
            lines.append(f"{c:<{width}}  " + " ".join(f"{int(v):>{cell}d}" for v in row))
        return "\n".join(lines)


def classification_report(true, pred, *, classes=None) -> ClassificationReport:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix.

    Parameters
    ----------
    true, pred : sequence of class names (or any hashable labels), same length
        The true and predicted class of each item.
    classes : sequence, optional
        The classes and their order (default: sorted union of ``true`` and ``pred``).
        Classes listed here but absent from both still get a row (all zeros).

    Returns
    -------
    ClassificationReport
    """
    true = [str(t) for t in np.asarray(true, dtype=object).reshape(-1)]
    pred = [str(p) for p in np.asarray(pred, dtype=object).reshape(-1)]
    if len(true) != len(pred):
        raise InputError(f"true has {len(true)} items but pred has {len(pred)}")
    if classes is None:
        classes = sorted(set(true) | set(pred))
    classes = tuple(str(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise InputError(f"classes repeat a name: {classes}")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted((set(true) | set(pred)) - set(index))
    if unknown:
        raise InputError(f"labels {unknown} are not among classes {list(classes)}")
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    if true:
        np.add.at(confusion, ([index[t] for t in true], [index[p] for p in pred]), 1)
    tp = np.diag(confusion).astype(np.float64)
    n_true, n_pred = confusion.sum(1), confusion.sum(0)
    precision = {c: _ratio(tp[i], n_pred[i], both_empty=False) for i, c in enumerate(classes)}
    recall = {c: _ratio(tp[i], n_true[i], both_empty=False) for i, c in enumerate(classes)}
    f1 = {c: _ratio(2 * tp[i], n_true[i] + n_pred[i], both_empty=False) for i, c in enumerate(classes)}
    return ClassificationReport(
        classes=classes,
        accuracy=_ratio(tp.sum(), len(true), both_empty=False),
        precision=precision,
        recall=recall,
        f1=f1,
        support={c: int(n_true[i]) for i, c in enumerate(classes)},
        confusion=confusion,
    )
