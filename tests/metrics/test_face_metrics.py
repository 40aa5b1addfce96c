import numpy as np
import pytest
from PIL import Image

from h3r.data.datasets import get_scheme
from h3r.metrics import auc, evaluate_faces, failure_rate, nme, normalizing_distance, plot_ced

IBUG = get_scheme("300w-68")
RNG = np.random.default_rng(0)


def faces(count: int = 4, scheme=IBUG) -> np.ndarray:
    """Random (N, K, 2) shapes with the outer eye corners 36 and 45 (300-W) 10 pixels apart."""
    points = RNG.uniform(0, 50, size=(count, scheme.num_landmarks, 2))
    if scheme is IBUG:
        points[:, 36], points[:, 45] = (20.0, 30.0), (30.0, 30.0)
    return points


def test_hand_computed_nme():
    gt = faces(2)
    pred = gt.copy()
    pred[0] += (3.0, 4.0)  # every landmark 5 px off: NME 5 / 10
    pred[1, :34] += (0.0, 2.0)  # half the landmarks 2 px off: NME 1 / 10
    norm = normalizing_distance(gt, IBUG)
    np.testing.assert_allclose(norm, [10.0, 10.0])
    np.testing.assert_allclose(nme(pred, gt, norm), [0.5, 0.1])


def test_normalizers():
    gt = np.zeros((1, 68, 2))
    gt[0, 36:42] = (0.0, 0.0)
    gt[0, 36] = (-6.0, 0.0)  # the left eye's centroid is (-1, 0)
    gt[0, 42:48] = (9.0, 0.0)
    gt[0, 45] = (3.0, 8.0)
    np.testing.assert_allclose(normalizing_distance(gt, IBUG, "inter-ocular"), [np.hypot(9.0, 8.0)])
    np.testing.assert_allclose(normalizing_distance(gt, IBUG, "inter-pupil"), [np.hypot(9.0, 8 / 6)])
    boxes = np.array([[0.0, 0.0, 4.0, 9.0]])
    np.testing.assert_allclose(normalizing_distance(gt, IBUG, "box", boxes), [6.0])
    visible = np.zeros((1, 68), bool)
    visible[0, [36, 45]] = True
    np.testing.assert_allclose(normalizing_distance(gt, IBUG, "landmark-box", visible=visible), [np.sqrt(9.0 * 8.0)])
    cofw = np.zeros((1, 29, 2))
    cofw[0, 16], cofw[0, 17], cofw[0, 9] = (1.0, 0.0), (4.0, 4.0), (0.0, 2.0)
    np.testing.assert_allclose(normalizing_distance(cofw, get_scheme("cofw-29")), [5.0])  # pupils, by default
    np.testing.assert_allclose(normalizing_distance(cofw, get_scheme("cofw-29"), "inter-ocular"), [2.0])


def test_zero_or_missing_normalizer_names_the_sample():
    gt = faces(3)
    gt[1, 45] = gt[1, 36]
    with pytest.raises(ValueError, match="inter-ocular normalizing distance of sample 1 is 0.0"):
        normalizing_distance(gt, IBUG)
    with pytest.raises(ValueError, match="sample 2: norm must be positive and finite"):
        nme(gt, gt, np.array([1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="normalised by the face box: give boxes"):
        normalizing_distance(faces(1, get_scheme("aflw-19")), get_scheme("aflw-19"))
    with pytest.raises(ValueError, match="kind must be one of box, landmark-box for aflw-19, got 'inter-ocular'"):
        normalizing_distance(faces(1, get_scheme("aflw-19")), get_scheme("aflw-19"), "inter-ocular")


def test_invisible_landmarks_are_excluded():
    gt = faces(2)
    pred = gt + (0.0, 1.0)
    visible = np.ones((2, 68), bool)
    visible[:, 0] = False
    gt[:, 0] = np.nan
    pred[:, 0] = 1e6
    np.testing.assert_allclose(nme(pred, gt, np.full(2, 10.0), visible), [0.1, 0.1])
    with pytest.raises(ValueError, match="sample 0: gt is not finite at a visible landmark"):
        nme(pred, gt, np.full(2, 10.0))
    visible[1] = False
    with pytest.raises(ValueError, match="sample 1: no visible landmark"):
        nme(pred, gt, np.full(2, 10.0), visible)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"gt must have shape \(2, 68, 2\), got \(2, 67, 2\)"):
        nme(faces(2), faces(2)[:, :67], np.ones(2))
    with pytest.raises(ValueError, match=r"keypoints must have shape \(N, 68, 2\)"):
        normalizing_distance(np.zeros((2, 19, 2)), IBUG)


def test_failure_rate_counts_errors_strictly_above_threshold():
    assert failure_rate(np.array([0.05, 0.08, 0.1, 0.2])) == 0.25
    assert failure_rate(np.array([0.05, 0.08, 0.1, 0.2]), threshold=0.08) == 0.5


def test_auc_is_the_exact_integral_of_the_ced():
    errors = np.concatenate([RNG.uniform(0, 0.15, size=50), [0.0, 0.1, 0.3]])
    for threshold in (0.08, 0.1):
        grid = (np.arange(200_000) + 0.5) * threshold / 200_000  # midpoint rule on the step function
        ced = np.searchsorted(np.sort(errors), grid, side="right") / errors.size
        assert auc(errors, threshold) == pytest.approx(ced.mean(), abs=1e-5)
    assert auc(np.array([0.05]), 0.1) == pytest.approx(0.5)
    assert auc(np.array([0.2, 0.1]), 0.1) == 0.0
    with pytest.raises(ValueError, match="threshold must be positive"):
        auc(errors, 0.0)
    with pytest.raises(ValueError, match="nme must be finite and non-negative"):
        auc(np.array([0.1, np.nan]))


def test_perfect_prediction():
    gt = faces(5)
    report = evaluate_faces(gt, gt, IBUG)
    assert report == {"n": 5, "nme": 0.0, "nme_inter_pupil": 0.0, "fr@0.08": 0.0, "fr@0.10": 0.0,
                      "auc@0.08": 1.0, "auc@0.10": 1.0, "subsets": {}}  # fmt: skip


def test_evaluate_faces_overall_and_per_subset():
    gt = faces(4)
    pred = gt + np.array([0.5, 0.9, 0.0, 2.0])[:, None, None] * (1.0, 0.0)  # NME 0.05, 0.09, 0, 0.2
    subsets = [{"helen", "common"}, {"ibug", "challenging"}, {"helen", "common"}, {"ibug", "challenging"}]
    report = evaluate_faces(pred, gt, IBUG, subsets=subsets)
    assert report["n"] == 4 and report["nme"] == pytest.approx(0.085)
    assert report["fr@0.08"] == 0.5 and report["fr@0.10"] == 0.25
    assert report["auc@0.10"] == pytest.approx((0.05 + 0.01 + 0.1) / 4 / 0.1)
    assert sorted(report["subsets"]) == ["challenging", "common", "helen", "ibug"]
    common = report["subsets"]["common"]
    assert common["n"] == 2 and common["nme"] == pytest.approx(0.025) and common["fr@0.08"] == 0.0
    assert set(common) == set(report) - {"subsets"}
    assert report["nme_inter_pupil"] > 0


def test_evaluate_faces_box_normalised_scheme_and_threshold_keys():
    scheme = get_scheme("aflw-19")
    gt = faces(2, scheme)
    boxes = np.array([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 10.0, 40.0]])
    report = evaluate_faces(gt + (0.0, 1.0), gt, scheme, boxes=boxes, thresholds=(0.05, 0.075))
    assert report["nme"] == pytest.approx(0.05)
    assert {"fr@0.05", "fr@0.075", "auc@0.05", "auc@0.075"} <= set(report)
    with pytest.raises(ValueError, match="give boxes"):
        evaluate_faces(gt, gt, scheme)
    with pytest.raises(ValueError, match="subsets must give the tags of each of the 2 faces, got 1"):
        evaluate_faces(gt, gt, scheme, boxes=boxes, subsets=[{"frontal"}])


def test_plot_ced(tmp_path):
    path = plot_ced({"ours": RNG.uniform(0, 0.12, 30), "baseline": RNG.uniform(0, 0.2, 30)}, tmp_path / "ced.png")
    assert path == tmp_path / "ced.png"
    with Image.open(path) as image:
        assert image.width > 300 and image.height > 200
