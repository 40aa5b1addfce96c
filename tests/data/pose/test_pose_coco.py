import json
import re

import numpy as np
import pytest
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_dataset
from h3r.data.pose import COCO_17, read_coco_pose


def fixture_file(name: str = "test_coco.json"):
    return shared_path("fixtures", "mmpose", "coco", name)


def test_ground_truth_people_leave_out_crowds_and_people_without_joints():
    annotations = json.loads(fixture_file().read_text())["annotations"]
    people = read_coco_pose(fixture_file())
    assert people.scheme is COCO_17 and people.annotation_file == fixture_file()
    assert len(people) == sum(a["num_keypoints"] > 0 and not a["iscrowd"] for a in annotations) == 12
    assert people.image_ids == (785, 40083, 196141, 197388)
    first = annotations[0]
    sample = people.samples[0]
    triples = np.array(first["keypoints"], float).reshape(17, 3)
    np.testing.assert_array_equal(sample.keypoints, triples[:, :2])  # pixel indices: our frame, unchanged
    np.testing.assert_array_equal(sample.visible, triples[:, 2] > 0)
    np.testing.assert_array_equal(sample.occluded, triples[:, 2] == 1)
    x, y, w, h = first["bbox"]
    np.testing.assert_allclose(sample.box, [x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5])
    assert sample.image_id == 785 and sample.area == first["area"] and sample.score is None
    assert sample.image_path.name == "000000000785.jpg" and sample.load_image().shape == (425, 640, 3)
    unlabelled = [s for s in people for a in annotations if a["num_keypoints"] == 0]
    assert all(np.isnan(s.keypoints[~s.visible]).all() for s in unlabelled)


def test_all_annotations_keeps_what_cocoeval_sees():
    people = read_coco_pose(fixture_file(), all_annotations=True)
    assert len(people) == 14
    assert sum(not sample.visible.any() for sample in people) == 2


def test_detected_boxes_above_a_score_threshold():
    detections = json.loads(fixture_file("test_coco_det_AP_H_56.json").read_text())
    people = read_coco_pose(fixture_file(), detections=fixture_file("test_coco_det_AP_H_56.json"), score_threshold=0.5)
    assert len(people) == sum(d["score"] >= 0.5 for d in detections) > 0
    assert len(people) < len(detections)
    assert all(sample.score >= 0.5 and not sample.visible.any() for sample in people)
    x, y, w, h = detections[0]["bbox"]
    np.testing.assert_allclose(people.samples[0].box, np.clip([x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5], -0.5,
                                                             [639.5, 424.5, 639.5, 424.5]))  # fmt: skip
    assert people.name.endswith("[test_coco_det_AP_H_56, score >= 0.5]")


def test_the_spec_reads_the_ground_truth():
    people = read_dataset(f"coco-pose:{fixture_file()}")
    assert len(people) == 12 and people.scheme.name == "coco-17"


def write(tmp_path, annotations, images=None):
    images = images or [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}]
    (tmp_path / "a.jpg").write_bytes(fixture_file("000000000785.jpg").read_bytes())
    path = tmp_path / "person_keypoints_val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1}]}))
    return path


def person(**fields):
    keypoints = [10, 10, 2] * 17
    return {"id": 7, "image_id": 1, "keypoints": keypoints, "bbox": [0, 0, 20, 20], "area": 400, "iscrowd": 0} | fields


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"keypoints": [10, 10, 2] * 16}, "annotation 7: 16 joints (48 numbers), expected 17"),
        ({"keypoints": [10, 10, 3] * 17}, "annotation 7: visibility flags v must be 0, 1 or 2"),
        ({"keypoints": [float("nan"), 10, 2] * 17}, "annotation 7: NaN or infinite joint coordinates"),
        ({"image_id": 9}, "annotation 7: image_id 9 is not among the annotation file's images"),
        ({"bbox": [0, 0, -1, 5]}, "annotation 7: bbox must be 4 finite numbers"),
    ],
)
def test_bad_annotations_name_the_file_and_the_annotation(tmp_path, fields, problem):
    path = write(tmp_path, [person(**fields)])
    with pytest.raises(DatasetError, match=re.escape(f"{path}: {problem}")):
        read_coco_pose(path)
    assert len(read_coco_pose(path, skip_bad=True).skipped) == 1


def test_bad_files_and_missing_images(tmp_path):
    path = write(tmp_path, [person()], images=[{"id": 1, "file_name": "missing.jpg"}])
    with pytest.raises(DatasetError, match="annotation 7: image missing.jpg not found in"):
        read_coco_pose(path)
    path.write_text("{not json")
    with pytest.raises(DatasetError, match=f"{path}: not valid JSON"):
        read_coco_pose(path)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match=f"{path}: expected a list 'annotations'"):
        read_coco_pose(path)
    with pytest.raises(DatasetError, match="COCO keypoint files have no splits"):
        read_coco_pose(path, "train")


def test_boxes_are_clipped_to_the_image_and_crowds_left_out(tmp_path):
    path = write(tmp_path, [person(bbox=[-10, 5, 100, 10]), person(id=8, iscrowd=1), person(id=9, keypoints=[0] * 51)])
    people = read_coco_pose(path)
    assert len(people) == 1
    np.testing.assert_allclose(people.samples[0].box, [-0.5, 4.5, 39.5, 14.5])
    assert [s.crowd for s in read_coco_pose(path, all_annotations=True)] == [False, True, False]
