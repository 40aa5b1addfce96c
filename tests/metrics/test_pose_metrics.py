import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval, Params
from scipy.io import loadmat
from shared_data import shared_path

from h3r.metrics import (
    COCO_SIGMAS,
    LSP_JOINTS,
    LSP_LIMB_JOINTS,
    MPII_JOINTS,
    coco_results,
    evaluate_coco,
    evaluate_lsp,
    evaluate_mpii,
    lsp_torso_sizes,
    mean_pck,
    mpii_head_sizes,
    mpii_head_sizes_from_joints,
    oks,
    oks_nms,
    pck,
)

RNG = np.random.default_rng(0)
MPII_PAIRS = {"Head": (9, 9), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3),
              "Knee": (1, 4), "Ankle": (0, 5)}  # fmt: skip


def mpii_fixture() -> tuple[np.ndarray, np.ndarray]:
    """mmpose's MPII sample: (5, 16, 2) joints (1-based, as MPII) and (5, 16) visibility."""
    records = json.loads(shared_path("fixtures", "mmpose", "mpii", "test_mpii.json").read_text())
    return np.array([r["joints"] for r in records]), np.array([r["joints_vis"] for r in records], bool)


def coco_fixture() -> dict:
    """mmpose's COCO sample: 4 val2017 images, 14 people, 2 of them without labelled joints."""
    return json.loads(shared_path("fixtures", "mmpose", "coco", "test_coco.json").read_text())


def offsets(count_shape: tuple[int, ...], lengths: np.ndarray) -> np.ndarray:
    """Vectors of the given lengths, (..., 2), in random directions."""
    angles = RNG.uniform(0, 2 * np.pi, count_shape)
    return lengths[..., None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


# --- PCK ------------------------------------------------------------------------------------------------------


def test_pck_counts_the_threshold_itself_and_skips_invisible_joints():
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[:, 0] = (3.0, 4.0)  # exactly 0.5 of the size 10: correct
    pred[:, 1] = (3.0, 4.000001)  # just beyond
    pred[1, 2] = np.nan  # not visible, not scored
    visible = np.array([[True, True, True], [True, True, False]])
    sizes = np.array([10.0, 10.0])
    np.testing.assert_array_equal(pck(pred, gt, sizes, 0.5, visible), [1.0, 0.0, 1.0])
    assert mean_pck(pred, gt, sizes, 0.5, visible) == 3 / 5  # pooled, not the mean of the per-joint values
    visible[:, 2] = False
    assert np.isnan(pck(pred, gt, sizes, 0.5, visible)[2])
    assert mean_pck(pred, gt, sizes, 0.5, visible, joints=[0]) == 1.0


def test_mpii_head_sizes():
    boxes = np.array([[[100.0, 50.0], [130.0, 90.0]], [[0.0, 0.0], [6.0, 8.0]]])
    np.testing.assert_allclose(mpii_head_sizes(boxes), [30.0, 6.0])
    gt, visible = mpii_fixture()
    np.testing.assert_allclose(mpii_head_sizes_from_joints(gt, visible), [math.dist(p[8], p[9]) for p in gt])
    with pytest.raises(ValueError, match="sample 1: head_boxes gives a head size that is zero"):
        mpii_head_sizes(np.array([boxes[0], [[5.0, 5.0], [5.0, 5.0]]]))
    visible[3, 9] = False
    with pytest.raises(ValueError, match=r"sample 3: the upper neck \(8\) or the head top \(9\) is not visible"):
        mpii_head_sizes_from_joints(gt, visible)


def test_mpii_ground_truth_as_prediction_scores_100_percent():
    gt, visible = mpii_fixture()
    report = evaluate_mpii(gt, gt, visible, mpii_head_sizes_from_joints(gt, visible))
    assert report["n"] == 5
    assert all(report[key] == 1.0 for key in [*MPII_PAIRS, "Mean", "Mean@0.1"])
    assert list(report["per_joint"]) == list(MPII_JOINTS) and set(report["per_joint"].values()) == {1.0}


def reference_mpii(pred, gt, visible, head_sizes, threshold) -> tuple[list[float], float]:
    """Per-joint PCKh and HRNet's "Mean" (per-joint PCKh weighted by visible counts, pelvis and thorax out)."""
    per_joint, counts = [], []
    for k in range(16):
        scaled = [math.dist(pred[n, k], gt[n, k]) / head_sizes[n] for n in range(len(gt)) if visible[n, k]]
        per_joint.append(sum(error <= threshold for error in scaled) / len(scaled))
        counts.append(0 if k in (6, 7) else len(scaled))
    return per_joint, sum(p * c for p, c in zip(per_joint, counts)) / sum(counts)


def test_mpii_perturbed_predictions_match_a_brute_force_pckh():
    gt, visible = mpii_fixture()
    head_sizes = mpii_head_sizes_from_joints(gt, visible)
    pred = gt + offsets(gt.shape[:2], RNG.uniform(0, 0.8, gt.shape[:2]) * head_sizes[:, None])
    pred[~visible] = np.nan  # unscored
    report = evaluate_mpii(pred, gt, visible, head_sizes)
    per_joint, mean = reference_mpii(pred, gt, visible, head_sizes, 0.5)
    per_joint_01, mean_01 = reference_mpii(pred, gt, visible, head_sizes, 0.1)
    np.testing.assert_allclose(list(report["per_joint"].values()), per_joint, rtol=1e-12)
    np.testing.assert_allclose(list(report["per_joint@0.1"].values()), per_joint_01, rtol=1e-12)
    for group, (left, right) in MPII_PAIRS.items():
        assert report[group] == pytest.approx((per_joint[left] + per_joint[right]) / 2, rel=1e-12)
    assert report["Mean"] == pytest.approx(mean, rel=1e-12) and report["Mean@0.1"] == pytest.approx(mean_01, rel=1e-12)
    assert 0.3 < report["Mean"] < 0.9 and report["Mean@0.1"] < report["Mean"]  # a test that can fail


def test_mpii_errors_name_the_argument():
    gt, visible = mpii_fixture()
    head_sizes = mpii_head_sizes_from_joints(gt, visible)
    with pytest.raises(ValueError, match="sample 2: head_sizes must be positive and finite"):
        evaluate_mpii(gt, gt, visible, np.array([10.0, 10.0, 0.0, 10.0, 10.0]))
    with pytest.raises(ValueError, match="visible: no joint is visible"):
        evaluate_mpii(gt, gt, np.zeros_like(visible), head_sizes)
    pred = gt.copy()
    pred[1, 3] = np.nan
    with pytest.raises(ValueError, match="sample 1, joint 3: pred is not finite at a visible joint"):
        evaluate_mpii(pred, gt, visible, head_sizes)
    with pytest.raises(ValueError, match=r"gt must have shape \(5, 16, 2\), got \(5, 14, 2\)"):
        evaluate_mpii(gt, gt[:, :14], visible, head_sizes)
    with pytest.raises(ValueError, match="threshold must be a positive number"):
        pck(gt, gt, head_sizes, 0.0)


# --- LSP ------------------------------------------------------------------------------------------------------


def test_lsp_torso_sizes_and_groups():
    gt = np.zeros((1, 14, 2))
    gt[0, 9], gt[0, 2] = (0.0, 0.0), (0.0, 50.0)  # left shoulder - right hip: 50
    gt[0, 8], gt[0, 3] = (30.0, 0.0), (30.0, 70.0)  # right shoulder - left hip: 70
    np.testing.assert_allclose(lsp_torso_sizes(gt), [50.0])
    np.testing.assert_allclose(lsp_torso_sizes(gt, diagonal="right_shoulder-left_hip"), [70.0])
    np.testing.assert_allclose(lsp_torso_sizes(gt, diagonal="mean"), [60.0])
    pred = gt.copy()
    pred[0, 12] += (0.0, 11.0)  # the neck 0.22 of the torso off, the rest exact
    report = evaluate_lsp(pred, gt)
    assert report["Head"] == 0.5 and report["Shoulder"] == 1.0 and report["Mean"] == pytest.approx(13 / 14)
    assert evaluate_lsp(pred, gt, joints=LSP_LIMB_JOINTS)["Mean"] == 1.0
    assert evaluate_lsp(pred, gt, torso_sizes=[60.0])["Mean"] == 1.0
    assert list(report["per_joint"]) == list(LSP_JOINTS)
    visible = np.ones((1, 14), bool)
    visible[0, 2] = False
    with pytest.raises(ValueError, match=r"sample 0: a torso joint \(right_hip, left_shoulder\) is not visible"):
        lsp_torso_sizes(gt, visible)
    with pytest.raises(ValueError, match="diagonal must be one of"):
        lsp_torso_sizes(gt, diagonal="shoulders")
    with pytest.raises(ValueError, match="joints must be a non-empty list of indices below 14"):
        evaluate_lsp(pred, gt, joints=[14])


def test_lsp_perturbed_predictions_match_a_brute_force_pck():
    joints = loadmat(shared_path("lspet-400", "joints.mat"))["joints"]  # (14, 3, N): x, y (1-based), visible
    gt, visible = joints[:, :2].transpose(2, 0, 1), joints[:, 2].T > 0
    keep = visible[:, [9, 2]].all(axis=1)  # people whose torso diagonal is annotated
    gt, visible = gt[keep], visible[keep]
    torso = np.array([math.dist(p[9], p[2]) for p in gt])
    pred = gt + offsets(gt.shape[:2], RNG.uniform(0, 0.35, gt.shape[:2]) * torso[:, None])
    report = evaluate_lsp(pred, gt, visible)
    limbs = evaluate_lsp(pred, gt, visible, joints=LSP_LIMB_JOINTS)["Mean"]
    hits = np.zeros(14)
    counts = np.zeros(14)
    for n, k in zip(*np.nonzero(visible)):
        counts[k] += 1
        hits[k] += math.dist(pred[n, k], gt[n, k]) / torso[n] <= 0.2
    np.testing.assert_allclose(list(report["per_joint"].values()), hits / counts, rtol=1e-12)
    assert report["Mean"] == pytest.approx(hits.sum() / counts.sum(), rel=1e-12)
    assert limbs == pytest.approx(hits[:12].sum() / counts[:12].sum(), rel=1e-12)
    assert report["Wrist"] == pytest.approx((hits[6] / counts[6] + hits[11] / counts[11]) / 2, rel=1e-12)
    assert 0.3 < report["Mean"] < 0.8 and len(gt) > 200


# --- COCO -----------------------------------------------------------------------------------------------------


def test_coco_sigmas_are_pycocotools_defaults():
    np.testing.assert_array_equal(COCO_SIGMAS, Params(iouType="keypoints").kpt_oks_sigmas)


def labelled_people(dataset: dict) -> list[dict]:
    return [person for person in dataset["annotations"] if person["num_keypoints"] > 0]


def as_arrays(person: dict) -> tuple[np.ndarray, np.ndarray]:
    """(17, 2) keypoints and (17,) labelled mask of a COCO annotation."""
    values = np.array(person["keypoints"], float).reshape(-1, 3)
    return values[:, :2], values[:, 2] > 0


def perturbed_results(dataset: dict) -> tuple[list[dict], list[dict]]:
    """One noisy detection per labelled person (spread over the OKS thresholds), a near duplicate and a stray.

    Returns the results and, for each, the annotation it was made from (None for the stray).
    """
    results, sources = [], []
    for person in labelled_people(dataset):
        keypoints, _ = as_arrays(person)
        noise = RNG.uniform(0.02, 0.12) * math.sqrt(person["area"])
        pred = keypoints + offsets((17,), np.abs(RNG.normal(0, noise, 17)))
        results += coco_results([person["image_id"]], pred[None], RNG.uniform(0, 1, (1, 17)), [RNG.uniform(0.2, 1)])
        sources.append(person)
    duplicate = copy.deepcopy(results[0])
    duplicate["keypoints"] = (np.array(duplicate["keypoints"]) + 3.0).tolist()
    duplicate["score"] = 0.1
    stray = coco_results([dataset["images"][1]["id"]], RNG.uniform(0, 400, (1, 17, 2)), np.ones((1, 17)), [0.15])
    return results + [duplicate] + stray, sources + [sources[0], None]


def coco_oks(result: dict, person: dict, sigmas: np.ndarray) -> float:
    """COCO's similarity, by hand: over labelled joints, or, for a person without any, by distance to 3× its box."""
    pred = np.array(result["keypoints"], float).reshape(-1, 3)[:, :2]
    keypoints, labelled = as_arrays(person)
    if labelled.any():
        squared = ((pred - keypoints) ** 2).sum(axis=1)[labelled]
        spread = (2 * sigmas[labelled]) ** 2
    else:
        x, y, w, h = person["bbox"]
        low, high = np.array([x - w, y - h]), np.array([x + 2 * w, y + 2 * h])
        squared = ((np.maximum(low - pred, 0) + np.maximum(pred - high, 0)) ** 2).sum(axis=1)
        spread = (2 * sigmas) ** 2
    return float(np.mean(np.exp(-squared / spread / (person["area"] + np.spacing(1)) / 2)))


def reference_coco(dataset: dict, results: list[dict], sigmas=COCO_SIGMAS) -> dict[str, float]:
    """COCOeval's AP/AR over all areas, written out: greedy matching per image, 101-point interpolated precision."""
    thresholds = np.linspace(0.5, 0.95, 10)
    scores, true, ignored = [], [], []  # per detection; true and ignored per threshold
    total = 0
    for image in sorted(image["id"] for image in dataset["images"]):
        people = [p for p in dataset["annotations"] if p["image_id"] == image]
        people.sort(key=lambda p: p["num_keypoints"] == 0)  # people without labelled joints last
        skipped = [p["num_keypoints"] == 0 for p in people]
        total += skipped.count(False)
        detections = sorted((r for r in results if r["image_id"] == image), key=lambda r: -r["score"])[:20]
        for result in detections:
            scores.append(result["score"])
            true.append([]), ignored.append([])
        taken = {t: set() for t in thresholds}
        for d, result in enumerate(detections, start=len(scores) - len(detections)):
            similarity = [coco_oks(result, person, sigmas) for person in people]
            for t in thresholds:
                match, best = None, min(t, 1 - 1e-10)
                for g in range(len(people)):
                    if g in taken[t]:
                        continue
                    if match is not None and not skipped[match] and skipped[g]:
                        break
                    if similarity[g] >= best:
                        match, best = g, similarity[g]
                if match is not None:
                    taken[t].add(match)
                true[d].append(match is not None and not skipped[match])
                ignored[d].append(match is not None and skipped[match])
    order = np.argsort(-np.array(scores), kind="stable")
    true, ignored = np.array(true)[order], np.array(ignored)[order]
    precisions, recalls = [], []
    for t in range(len(thresholds)):
        kept = ~ignored[:, t]
        hits = np.cumsum(true[kept, t])
        misses = np.cumsum(~true[kept, t])
        recall = hits / total
        precision = np.maximum.accumulate((hits / (hits + misses + np.spacing(1)))[::-1])[::-1]
        at = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        precisions.append(np.mean([precision[i] if i < len(precision) else 0.0 for i in at]))
        recalls.append(recall[-1])
    return {"AP": np.mean(precisions), "AP50": precisions[0], "AP75": precisions[5],
            "AR": np.mean(recalls), "AR50": recalls[0], "AR75": recalls[5]}  # fmt: skip


def test_coco_ground_truth_as_prediction_gives_ap_1(capsys):
    path = shared_path("fixtures", "mmpose", "coco", "test_coco.json")
    people = labelled_people(coco_fixture())
    results = [{"image_id": p["image_id"], "category_id": 1, "keypoints": p["keypoints"], "score": 1.0} for p in people]
    stats = evaluate_coco(path, results)
    assert stats == pytest.approx(
        dict.fromkeys(["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"], 1.0)
    )
    assert capsys.readouterr().out == ""  # pycocotools' printing is captured


def test_coco_single_person_at_a_known_oks():
    """Every labelled joint moved so that its similarity is 0.72: matched at thresholds 0.50-0.70, 5 of 10."""
    dataset = coco_fixture()
    person = labelled_people(dataset)[0]
    dataset["annotations"] = [person]
    dataset["images"] = [image for image in dataset["images"] if image["id"] == person["image_id"]]
    keypoints, labelled = as_arrays(person)
    distance = np.sqrt(-np.log(0.72) * 2 * person["area"] * (2 * COCO_SIGMAS) ** 2)
    pred = keypoints + offsets((17,), distance)
    np.testing.assert_allclose(oks(pred[None], keypoints[None], labelled[None], [person["area"]]), [0.72])
    stats = evaluate_coco(dataset, coco_results([person["image_id"]], pred[None], np.ones((1, 17)), [0.9]))
    assert stats["AP"] == pytest.approx(0.5) and stats["AR"] == pytest.approx(0.5)
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == 0.0
    assert math.isnan(stats["APm"]) and stats["APl"] == pytest.approx(0.5)  # no medium person: -1 in COCOeval


def test_coco_perturbed_predictions_match_an_independent_cocoeval():
    dataset = coco_fixture()
    results, _ = perturbed_results(dataset)
    frozen = copy.deepcopy((dataset, results))
    stats = evaluate_coco(dataset, results)
    assert (dataset, results) == frozen  # neither input is modified
    expected = reference_coco(dataset, results)
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, abs=1e-12), key
    assert 0.2 < stats["AP"] < 0.9 and stats["AP50"] > stats["AP75"]  # a test that can fail


def test_oks_matches_pycocotools():
    dataset = coco_fixture()
    results, sources = perturbed_results(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = copy.deepcopy(dataset)
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(copy.deepcopy(results)), iouType="keypoints")
        evaluator.evaluate()
    checked = 0
    for result, person in zip(results, sources):
        if person is None:
            continue
        key = (result["image_id"], 1)
        detections = sorted(evaluator._dts[key], key=lambda d: -d["score"])
        row = [d["score"] for d in detections].index(result["score"])
        column = [p["id"] for p in evaluator._gts[key]].index(person["id"])
        pred = np.array(result["keypoints"]).reshape(-1, 3)[None, :, :2]
        keypoints, labelled = as_arrays(person)
        similarity = oks(pred, keypoints[None], labelled[None], [person["area"]])
        assert similarity[0] == pytest.approx(evaluator.ious[key][row, column], abs=1e-12)
        checked += 1
    assert checked == len(labelled_people(dataset)) + 1


def test_oks_errors_name_the_argument():
    keypoints = np.zeros((1, 17, 2))
    with pytest.raises(ValueError, match="sample 0: visible: no joint is visible"):
        oks(keypoints, keypoints, np.zeros((1, 17), bool), [100.0])
    with pytest.raises(ValueError, match="sample 0: area must be positive and finite"):
        oks(keypoints, keypoints, np.ones((1, 17), bool), [0.0])
    pred = keypoints.copy()
    pred[0, 4] = np.nan
    with pytest.raises(ValueError, match="sample 0, joint 4: pred is not finite at a visible joint"):
        oks(pred, keypoints, np.ones((1, 17), bool), [100.0])
    with pytest.raises(ValueError, match=r"sigmas must have shape \(17\)"):
        oks(keypoints, keypoints, np.ones((1, 17), bool), [100.0], sigmas=COCO_SIGMAS[:14])


def test_oks_nms_keeps_the_best_of_duplicates():
    person = labelled_people(coco_fixture())[0]
    keypoints, _ = as_arrays(person)
    other = keypoints + (150.0, 0.0)
    poses = np.stack([keypoints + 1.0, keypoints, other, keypoints + 40.0, other + 0.5])
    scores = np.array([0.7, 0.95, 0.6, 0.5, 0.8])
    areas = np.full(5, person["area"])
    kept = oks_nms(poses, scores, areas)
    np.testing.assert_array_equal(kept, [1, 4, 3])  # 0 duplicates 1, 2 duplicates 4; 3 is 40 px off
    everywhere = np.ones((1, 17), bool)
    assert oks(poses[[0]], poses[[1]], everywhere, [person["area"]])[0] > 0.9
    assert oks(poses[[3]], poses[[1]], everywhere, [person["area"]])[0] < 0.9
    np.testing.assert_array_equal(oks_nms(poses, scores, areas, threshold=0.999), [1, 4, 0, 2, 3])
    np.testing.assert_array_equal(oks_nms(poses[:2], [0.5, 0.5], areas[:2]), [0])  # a tie keeps the first
    assert oks_nms(np.zeros((0, 17, 2)), [], []).shape == (0,)
    with pytest.raises(ValueError, match="sample 2: areas must be positive and finite"):
        oks_nms(poses, scores, [1.0, 1.0, 0.0, 1.0, 1.0])


def test_evaluate_coco_rejects_bad_results():
    dataset = coco_fixture()
    good = coco_results([785], np.zeros((1, 17, 2)), np.ones((1, 17)), [0.5])[0]
    with pytest.raises(ValueError, match="results must be a non-empty list"):
        evaluate_coco(dataset, [])
    with pytest.raises(ValueError, match="results\\[1\\]: image_id 7 is not in the annotations"):
        evaluate_coco(dataset, [good, good | {"image_id": 7}])
    with pytest.raises(ValueError, match="results\\[0\\]: keypoints must be 51 finite numbers"):
        evaluate_coco(dataset, [good | {"keypoints": good["keypoints"][:-3]}])
    with pytest.raises(ValueError, match="results\\[0\\]: keypoints must be 51 finite numbers"):
        evaluate_coco(dataset, [good | {"keypoints": [math.nan] * 51}])
    with pytest.raises(ValueError, match="results\\[0\\] lacks score"):
        evaluate_coco(dataset, [{k: v for k, v in good.items() if k != "score"}])
    with pytest.raises(ValueError, match="results\\[0\\]: category_id 2 is not in the annotations"):
        evaluate_coco(dataset, [good | {"category_id": 2}])
