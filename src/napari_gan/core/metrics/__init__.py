"""Quality metrics, one module per family; ``napari_gan.metrics`` re-exports them all.

Image fidelity (:mod:`.fidelity`)
    psnr, ssim
Segmentation and instances (:mod:`.instances`)
    IOU_THRESHOLDS, InstanceMatch, iou, class_iou, match_instances,
    average_precision, segmentation_scores
Points and keypoints (:mod:`.points`)
    PointMatch, match_points, KeypointMatch, match_keypoints (points of several named
    kinds, matched kind by kind, with the micro average over kinds)
Boxes (:mod:`.boxes`)
    COCO_IOU_THRESHOLDS, BoxAP, box_iou, box_average_precision (COCO-style AP@0.5
    and AP@[.5:.95], per class, and precision/recall/F1 at IoU 0.5)
Classification (:mod:`.classification`)
    ClassificationReport, classification_report
Generated images (:mod:`.two_sample`, :mod:`.generative`, :mod:`.seams`)
    ClassifierTest, classifier_test, classifier_test_floor (the first measure of
    any generated result: can a fresh CNN tell it from real?), seam_score,
    split_halves, sliced_wasserstein, sliced_wasserstein_floor,
    memorisation_distance, diversity, lattice_strength

Conventions shared by the matching functions
--------------------------------------------
* Label images: 0 is background; every other value is one object, whatever its
  connectivity. Ids need not be consecutive; any integer or boolean dtype works, and
  float arrays are accepted when every value is a whole number.
* Matching is one-to-one. Among all pairs that pass the criterion (IoU >= threshold,
  or distance <= radius), the matching first maximises the number of matched pairs,
  then the total IoU (or minimises the total distance). Pairs are matched with
  :func:`scipy.optimize.linear_sum_assignment`, separately on each connected group of
  candidate pairs, so thousands of objects cost little. The exception is
  :func:`box_average_precision`'s AP, which ranks predictions by score and matches
  each in turn to its best free reference box, as COCO does.
* A ratio whose denominator is 0 (e.g. precision with no predictions) is 1.0 when
  both the reference and the prediction are empty (nothing to find, nothing found),
  else 0.0. No score is ever NaN except ``mean_matched_iou`` /
  ``mean_distance`` when nothing was matched; no numpy warnings are emitted.
"""

from __future__ import annotations

from .boxes import COCO_IOU_THRESHOLDS, BoxAP, box_average_precision, box_iou
from .classification import ClassificationReport, classification_report
from .fidelity import psnr, ssim
from .generative import (
    _BINOMIAL,  # noqa: F401  (the texture generator blurs with the same filter)
    _laplacian_pyramid,  # noqa: F401  (tests compare the generator's pyramid with it)
    diversity,
    lattice_strength,
    memorisation_distance,
    sliced_wasserstein,
    sliced_wasserstein_floor,
    split_halves,
)
from .instances import (
    IOU_THRESHOLDS,
    InstanceMatch,
    average_precision,
    class_iou,
    iou,
    match_instances,
    segmentation_scores,
)
from .points import KeypointMatch, PointMatch, match_keypoints, match_points
from .seams import seam_score
from .two_sample import ClassifierTest, classifier_test, classifier_test_floor

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "BoxAP",
    "ClassificationReport",
    "ClassifierTest",
    "IOU_THRESHOLDS",
    "InstanceMatch",
    "KeypointMatch",
    "PointMatch",
    "average_precision",
    "box_average_precision",
    "box_iou",
    "class_iou",
    "classification_report",
    "classifier_test",
    "classifier_test_floor",
    "diversity",
    "iou",
    "lattice_strength",
    "match_instances",
    "match_keypoints",
    "match_points",
    "memorisation_distance",
    "psnr",
    "seam_score",
    "segmentation_scores",
    "sliced_wasserstein",
    "sliced_wasserstein_floor",
    "split_halves",
    "ssim",
]
