"""Box IoU and COCO-style box average precision on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops

import napari_gan as ng
from napari_gan.core.metrics import COCO_IOU_THRESHOLDS, box_average_precision, box_iou, iou

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def box(y0, x0, y1, x1):
    """One 2D box: (min corner, max corner), max exclusive."""
    return [[y0, x0], [y1, x1]]


THREE = np.array([box(0, 0, 10, 10), box(20, 20, 30, 30), box(40, 40, 50, 50)], dtype=float)


def test_box_iou_exact_values():
    a = [box(10, 10, 20, 20)]
    b = [
        box(10, 12, 20, 22),  # shifted by 2 columns: 80 shared of 120
        box(10, 20, 20, 30),  # touching: max is exclusive, so no shared pixel
        box(12, 12, 16, 16),  # inside: 16 of 100
        box(10, 10, 20, 20),
        box(15, 15, 15, 18),  # empty box (zero height)
    ]
    np.testing.assert_allclose(box_iou(a, b), [[2 / 3, 0.0, 0.16, 1.0, 0.0]])
    cube = [[[0, 0, 0], [4, 4, 4]]]
    half = [[[2, 0, 0], [6, 4, 4]]]  # 32 shared of 96 voxels
    assert box_iou(cube, half)[0, 0] == pytest.approx(1 / 3)
    assert box_iou([], a).shape == (0, 1) and box_iou(a, np.zeros((0, 2, 2))).shape == (1, 0)


def test_regionprops_bbox_convention_gives_the_pixel_iou():
    labels = np.zeros((40, 40), dtype=np.int32)
    labels[3:15, 5:12] = 1
    other = np.zeros_like(labels)
    other[6:20, 7:16] = 1
    a = np.reshape(regionprops(labels)[0].bbox, (1, 2, -1))
    b = np.reshape(regionprops(other)[0].bbox, (1, 2, -1))
    assert box_iou(a, b)[0, 0] == pytest.approx(iou(labels, other))


def test_hand_computed_average_precision():
    # scores rank: hit A, false, hit B, false; C is never found
    pred = np.array([box(0, 0, 10, 10), box(60, 60, 70, 70), box(20, 20, 30, 30), box(80, 80, 90, 90)])
    result = box_average_precision(THREE, pred, [0.9, 0.8, 0.7, 0.6])
    # precision (made monotone) 1 for recall <= 1/3 (34 of the 101 recall points),
    # 2/3 for recall in (1/3, 2/3] (33 points), nothing above
    assert result.ap50 == pytest.approx((34 + 33 * 2 / 3) / 101)
    assert result.ap == pytest.approx(result.ap50)  # every hit is exact: same at all thresholds
    assert result.class_ap == {None: pytest.approx(56 / 101)}
    assert (result.tp, result.fp, result.fn, result.n_true, result.n_pred) == (2, 2, 1, 3, 4)
    assert (result.precision, result.recall, result.f1) == (0.5, pytest.approx(2 / 3), pytest.approx(4 / 7))
    assert result.iou_thresholds == COCO_IOU_THRESHOLDS and len(result.ap_at) == 10


def test_a_confident_false_positive_costs_more_than_a_doubtful_one():
    two = THREE[:2]
    false = [box(60, 60, 70, 70)]
    pred = np.concatenate([false, two])
    assert box_average_precision(two, pred, [0.9, 0.8, 0.7]).ap == pytest.approx(2 / 3)
    assert box_average_precision(two, pred, [0.1, 0.8, 0.7]).ap == 1.0
    # the same predictions with their F1 at 0.5: scores play no part
    assert box_average_precision(two, pred, [0.9, 0.8, 0.7]).f1 == pytest.approx(0.8)


def test_perfect_prediction_scores_one():
    classes = ["cell", "cell", "debris"]
    result = box_average_precision(
        THREE, THREE[::-1], [0.3, 0.2, 0.1], true_classes=classes, pred_classes=classes[::-1]
    )
    assert result.ap == result.ap50 == result.f1 == 1.0
    assert result.class_ap == result.class_ap50 == {"cell": 1.0, "debris": 1.0}
    assert all(v == 1.0 for v in result.ap_at.values())


def test_shifted_boxes_lose_average_precision():
    shifted = THREE + [[0, 2], [0, 2]]  # IoU 2/3: matched at 0.5, ..., 0.65 only
    result = box_average_precision(THREE, shifted, [0.9, 0.8, 0.7])
    assert result.ap50 == 1.0 and result.ap == pytest.approx(0.4)
    assert [result.ap_at[t] for t in COCO_IOU_THRESHOLDS] == [1.0] * 4 + [0.0] * 6
    aps = [box_average_precision(THREE, THREE + [[0, s], [0, s]], [0.9, 0.8, 0.7]).ap for s in (0, 1, 2, 4, 6)]
    assert aps == sorted(aps, reverse=True) and aps[0] == 1.0 and aps[-1] == 0.0


def test_without_scores_every_order_gives_the_same_answer():
    pred = np.concatenate([THREE[:2], [box(60, 60, 70, 70)]])
    results = [box_average_precision(THREE[:2], pred[order]).ap for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0])]
    assert results == [pytest.approx(2 / 3)] * 3  # one operating point: precision 2/3 at recall 1


def test_classes_are_matched_separately_and_averaged():
    pred = {
        "boxes": np.concatenate([THREE, [box(60, 60, 70, 70)]]),
        "class": np.array(["cell", "debris", "cell", "dust"]),  # boxes 1 and 2 are found with the wrong class
        "score": np.array([0.9, 0.8, 0.7, 0.6]),
    }
    true_classes = ["cell", "cell", "debris"]
    result = box_average_precision(THREE, pred, true_classes=true_classes)
    assert list(result.class_ap) == ["cell", "debris", "dust"]
    # cell: a hit first (precision 1 up to recall 1/2: 51 of the 101 recall points), then a miss
    assert result.class_ap50 == {"cell": pytest.approx(51 / 101), "debris": 0.0, "dust": 0.0}
    assert result.ap50 == pytest.approx(51 / 101 / 3)  # a class only predicted scores 0, not left out
    assert (result.tp, result.fp, result.fn) == (1, 3, 2)
    same = box_average_precision(
        {"boxes": THREE, "class": true_classes},
        pred["boxes"],
        pred["score"],
        pred_classes=pred["class"],
    )
    assert same == result


def test_empty_sets_follow_the_package_conventions():
    nothing = box_average_precision([], np.zeros((0, 2, 2)))
    assert nothing.ap == nothing.ap50 == nothing.f1 == nothing.precision == nothing.recall == 1.0
    assert box_average_precision([], [], true_classes=[], pred_classes=[]).ap == 1.0
    missed = box_average_precision(THREE, [])
    assert (missed.ap, missed.recall, missed.precision, missed.fn) == (0.0, 0.0, 0.0, 3)
    invented = box_average_precision([], THREE, [0.5, 0.4, 0.3])
    assert (invented.ap, invented.precision, invented.fp) == (0.0, 0.0, 3)


def test_three_dimensional_boxes():
    true = np.array([[[0, 0, 0], [4, 8, 8]], [[10, 10, 10], [14, 18, 18]]])
    pred = true + [[[1, 0, 0]], [[1, 0, 0]]]  # one plane deeper: IoU 3/5
    result = box_average_precision(true, pred[::-1], [0.5, 0.4])
    assert result.ap50 == 1.0 and result.ap == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: box_iou(np.zeros((3, 4)), THREE), r"\(M, 2, D\) array of boxes"),
        (lambda: box_iou(np.zeros((3, 3, 2)), THREE), r"got shape \(3, 3, 2\)"),
        (lambda: box_iou([box(5, 0, 2, 4)], THREE), "box 0 has its min corner above its max corner on axis 0"),
        (lambda: box_iou([box(0, 0, np.nan, 4)], THREE), "NaN"),
        (lambda: box_iou(np.zeros((1, 2, 3)), THREE), "differ in dimension"),
        (lambda: box_average_precision(THREE, THREE, [0.5, 0.4]), "one score per predicted box: 3 boxes"),
        (lambda: box_average_precision(THREE, THREE, [0.5, np.nan, 0.1]), "scores contain NaN"),
        (lambda: box_average_precision(THREE, THREE, true_classes=[1, 2], pred_classes=[1, 2, 3]), "one class"),
        (lambda: box_average_precision(THREE, THREE, true_classes=[1, 2, 3]), "only true_classes was given"),
        (lambda: box_average_precision(THREE, THREE, iou_thresholds=[0.5, 1.5]), r"\(0, 1\]"),
        (lambda: box_average_precision(THREE, {"boxes": THREE, "score": [1, 2, 3]}, [1, 2, 3]), "give them once"),
        (lambda: box_average_precision(THREE, {"box": THREE}), "no 'boxes' column"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ng.InputError, match=message):
        call()


def test_agrees_with_pycocotools():
    """Where pycocotools is installed (it is not a dependency), compare on a random scene."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(3)
    n = 30
    start = rng.uniform(0, 200, (n, 2))
    true = np.stack([start, start + rng.uniform(5, 30, (n, 2))], axis=1)
    true_cls = rng.integers(1, 4, n)
    kept = rng.random(n) < 0.8
    jitter = rng.normal(0, 2.5, (n, 2, 2))
    pred = np.concatenate([true[kept] + jitter[kept], np.stack([start[:10] + 50, start[:10] + 70], axis=1)])
    pred[:, 1] = np.maximum(pred[:, 1], pred[:, 0] + 1)
    pred_cls = np.concatenate([true_cls[kept], rng.integers(1, 4, 10)])
    scores = rng.permutation(len(pred)) / len(pred) + 0.01

    def xywh(b):  # COCO: x is the column, y the row
        return [float(b[0, 1]), float(b[0, 0]), float(b[1, 1] - b[0, 1]), float(b[1, 0] - b[0, 0])]

    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1}],
        "categories": [{"id": c} for c in (1, 2, 3)],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": int(c), "bbox": xywh(b), "area": 1.0, "iscrowd": 0}
            for i, (b, c) in enumerate(zip(true, true_cls))
        ],
    }
    gt.createIndex()
    dt = gt.loadRes(
        [
            {"image_id": 1, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
            for b, c, s in zip(pred, pred_cls, scores)
        ]
    )
    coco = COCOeval(gt, dt, "bbox")
    coco.evaluate()
    coco.accumulate()
    precision = coco.eval["precision"][:, :, :, 0, -1]  # (thresholds, 101 recalls, classes), all areas, 100 dets
    ours = box_average_precision(true, pred, scores, true_classes=true_cls, pred_classes=pred_cls)
    for k, c in enumerate((1, 2, 3)):
        assert ours.class_ap[c] == pytest.approx(precision[:, :, k].mean(), abs=1e-12)
        assert ours.class_ap50[c] == pytest.approx(precision[0, :, k].mean(), abs=1e-12)
    assert ours.ap == pytest.approx(precision.mean(), abs=1e-12)
