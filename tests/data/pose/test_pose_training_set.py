import dataclasses

import numpy as np
import pytest
from shared_data import shared_path

from h3r.codecs import build_codec
from h3r.data import AugmentSettings, FaceTrainingSet, invert, transform_points
from h3r.data.datasets import read_dataset
from h3r.data.pose import LSP_14, PoseTrainingSet, half_body_box

SIZE = (128, 96)  # H, W


def people():
    return read_dataset(f"lsp:{shared_path('lspet-400')}:val")


def training_set(augment=None, **settings):
    codec = build_codec("h3r", input_size=SIZE, stride=4)
    return PoseTrainingSet(people(), SIZE, codec, 1.25, augment, **settings)


def test_plain_crops_have_the_input_aspect_and_keep_the_joints():
    dataset = training_set()
    item = dataset[0]
    assert item["image"].shape == (3, 128, 96) and item["targets"].shape == (14, 32, 24)
    sample = dataset.dataset.samples[0]
    back = transform_points(invert(item["matrix"].numpy()), item["keypoints"].double().numpy())
    np.testing.assert_allclose(back[sample.visible], sample.keypoints[sample.visible], atol=1e-4)
    inside = item["keypoints"][item["visible"]]
    assert (inside[:, 0] > -0.5).all() and (inside[:, 0] < 95.5).all() and (inside[:, 1] < 127.5).all()
    x1, y1, x2, y2 = sample.box  # the box, widened to 3:4 and scaled by 1.25, spans the crop's long side
    assert item["matrix"][0, 0].item() == pytest.approx(item["matrix"][1, 1].item())
    assert max(y2 - y1, (x2 - x1) * 4 / 3) * 1.25 * item["matrix"][1, 1].item() == pytest.approx(128)


def test_flips_mirror_the_crop_and_swap_the_sides():
    dataset = training_set(dataclasses.replace(AugmentSettings.none(), flip=1.0))
    plain = training_set()[5]
    flipped = dataset[5]
    np.testing.assert_allclose(flipped["image"].numpy(), plain["image"].numpy()[..., ::-1], atol=1e-5)
    order = list(LSP_14.flip_permutation)
    expected = plain["keypoints"][order].clone()
    expected[:, 0] = 95 - expected[:, 0]
    visible = plain["visible"][order]
    np.testing.assert_allclose(flipped["keypoints"][visible], expected[visible], atol=1e-4)


def test_half_body_crops_one_half():
    points = np.stack([np.linspace(0, 30, 14), np.linspace(0, 130, 14)], axis=1)
    upper = half_body_box(points, np.ones(14, bool), LSP_14, upper_first=True)
    lower = half_body_box(points, np.ones(14, bool), LSP_14, upper_first=False)
    assert upper[1] > 50 and lower[3] < 70  # joints 6-13 lie low in this made-up person, 0-5 high
    visible = np.zeros(14, bool)
    visible[[0, 1, 6, 7, 8, 9, 10, 11, 12]] = True  # 9 labelled, only two in the lower half: the upper is taken
    chosen = points[[6, 7, 8, 9, 10, 11, 12]]
    centre, half = chosen.mean(axis=0), np.ptp(chosen, axis=0) * 1.2 / 2
    expected = [*(centre - half), *(centre + half)]
    np.testing.assert_allclose(half_body_box(points, visible, LSP_14, upper_first=False), expected)
    assert half_body_box(points, visible[:8].tolist() + [False] * 6, LSP_14, upper_first=True) is None


def test_half_body_changes_some_crops_reproducibly():
    settings = dataclasses.replace(AugmentSettings.none(), half_body=1.0)
    whole, half = training_set(), training_set(settings)
    scales = [half[i]["matrix"][0, 0].item() / whole[i]["matrix"][0, 0].item() for i in range(6)]
    assert max(scales) > 1.2  # half a body, seen larger
    np.testing.assert_array_equal(half[3]["matrix"].numpy(), training_set(settings)[3]["matrix"].numpy())


def test_faces_refuse_half_body():
    codec = build_codec("h3r", input_size=SIZE, stride=4)
    with pytest.raises(ValueError, match="augment.half_body crops half a body"):
        FaceTrainingSet(people(), SIZE, codec, augment=AugmentSettings(half_body=0.5), box="dataset")
