from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from shared_data import shared_path
from torch.utils.data import DataLoader, default_collate

from h3r.codecs import H3RCodec, build_codec
from h3r.data import ImageError
from h3r.data.augment import AugmentSettings
from h3r.data.crop import IMAGENET_MEAN, IMAGENET_STD
from h3r.data.datasets import FaceDataset, FaceSample, LandmarkScheme, read_dataset
from h3r.data.geometry import invert, transform_points
from h3r.data.training_set import FaceTrainingSet, landmark_box

SIZE, STRIDE = 64, 4
SCHEME = LandmarkScheme(name="toy-5", num_landmarks=5, flip_permutation=(1, 0, 2, 4, 3), normalizer="box")


def toy_dataset(count: int = 6, boxes: bool = True) -> FaceDataset:
    """Faces of 5 landmarks on random 120 × 160 images held in memory; landmark 4 of face 1 missing."""
    rng = np.random.default_rng(0)
    samples = []
    for index in range(count):
        keypoints = rng.uniform((50, 30), (110, 90), size=(5, 2))
        visible = np.ones(5, bool)
        if index == 1:
            keypoints[4], visible[4] = np.nan, False
        samples.append(
            FaceSample(
                image_path=Path(f"face{index}.png"),
                keypoints=keypoints,
                visible=visible,
                box=np.array([45.0, 25.0, 115.0, 95.0]) if boxes else None,
                image=rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8),
            )
        )
    return FaceDataset(name="toy", scheme=SCHEME, samples=samples)


def training_set(dataset: FaceDataset | None = None, **settings) -> FaceTrainingSet:
    codec = settings.pop("codec", None) or build_codec("h3r", input_size=SIZE, stride=STRIDE)
    return FaceTrainingSet(dataset or toy_dataset(), SIZE, codec, **settings)


def test_items_have_the_documented_shapes_and_types():
    item = training_set(augment=AugmentSettings())[1]
    assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
    assert item["targets"].shape == (5, SIZE // STRIDE, SIZE // STRIDE) and item["targets"].dtype == torch.float32
    assert item["weights"].shape == (5,) and item["weights"].dtype == torch.float32
    assert item["keypoints"].shape == (5, 2) and item["keypoints"].dtype == torch.float32
    assert item["visible"].dtype == torch.bool and item["matrix"].dtype == torch.float64
    assert item["matrix"].shape == (3, 3) and item["index"] == 1
    assert item["visible"].sum() == 4 and item["weights"][~item["visible"]].eq(0).all()
    batch = default_collate([item, training_set()[0]])
    assert batch["image"].shape == (2, 3, SIZE, SIZE) and batch["index"].tolist() == [1, 0]


def test_plain_crop_centres_the_landmark_box_and_normalises_the_image():
    dataset = toy_dataset()
    data = training_set(dataset, crop_scale=1.5)
    for index in (0, 1):
        item, sample = data[index], dataset[index]
        box = landmark_box(sample.keypoints, sample.visible)
        corners = transform_points(item["matrix"].numpy(), box.reshape(2, 2))
        np.testing.assert_allclose(corners.mean(0), (SIZE - 1) / 2, atol=1e-9)
        assert (corners[1] - corners[0]).max() == pytest.approx(SIZE / 1.5)
        expected = transform_points(item["matrix"].numpy(), sample.keypoints).astype(np.float32)
        np.testing.assert_array_equal(item["keypoints"].numpy(), expected)
    pixels = item["image"] * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6


def test_matrix_maps_crop_landmarks_back_to_the_image():
    dataset = toy_dataset()
    data = training_set(dataset, augment=AugmentSettings(flip=0.5), seed=3)
    flips = 0
    for index in range(len(dataset)):
        item, sample = data[index], dataset[index]
        matrix = item["matrix"].numpy()
        back = transform_points(invert(matrix), item["keypoints"].numpy().astype(np.float64))
        flipped = np.linalg.det(matrix[:2, :2]) < 0
        order = list(SCHEME.flip_permutation) if flipped else list(range(5))
        np.testing.assert_allclose(back, sample.keypoints[order], atol=1e-3)
        np.testing.assert_array_equal(item["visible"].numpy(), sample.visible[order])
        flips += flipped
    assert 0 < flips < len(dataset)


def test_targets_decode_to_the_keypoints():
    codec = H3RCodec(input_size=SIZE, stride=STRIDE, expected=True, heatmap="probabilities")
    data = training_set(codec=codec, augment=AugmentSettings(occlusion_probability=0))
    for item in (data[0], data[1]):
        decoded, _ = codec.decode(item["targets"][None])
        on = item["weights"] > 0
        assert on.sum() >= 4
        torch.testing.assert_close(decoded[0][on], item["keypoints"][on], atol=1e-4, rtol=0)


def test_randomness_depends_on_seed_epoch_and_index_only():
    data = training_set(augment=AugmentSettings())
    torch.manual_seed(5)
    expected_torch_draw = torch.rand(3)
    torch.manual_seed(5)
    first = data[2]
    assert torch.equal(torch.rand(3), expected_torch_draw), "the caller's torch generator must be left alone"
    again = data[2]
    for key in ("image", "targets", "keypoints", "matrix"):
        assert torch.equal(first[key], again[key])
    data.set_epoch(1)
    assert not torch.equal(data[2]["matrix"], first["matrix"])
    assert not torch.equal(training_set(augment=AugmentSettings(), seed=1)[2]["matrix"], first["matrix"])


def test_batches_are_the_same_with_any_number_of_workers():
    data = training_set(augment=AugmentSettings())
    data.set_epoch(2)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=3, num_workers=workers)
        batches[workers] = list(loader)
    for serial, parallel in zip(batches[0], batches[2]):
        for key in ("image", "targets", "weights", "matrix", "index"):
            assert torch.equal(serial[key], parallel[key]), key
        torch.testing.assert_close(serial["keypoints"], parallel["keypoints"], equal_nan=True)


def test_dataset_boxes():
    dataset = toy_dataset()
    item = training_set(dataset, box="dataset")[0]
    centre = transform_points(item["matrix"].numpy(), np.array([80.0, 60.0]))
    np.testing.assert_allclose(centre, (SIZE - 1) / 2, atol=1e-9)
    with pytest.raises(ValueError, match=r"box='dataset' but face face0\.png of dataset 'toy' has no box"):
        training_set(toy_dataset(boxes=False), box="dataset")


def test_bad_arguments():
    with pytest.raises(ValueError, match="does not match input_size"):
        FaceTrainingSet(toy_dataset(), 128, build_codec("h3r", input_size=SIZE))
    with pytest.raises(ValueError, match="box must be one of"):
        training_set(box="detector")
    with pytest.raises(ValueError, match="crop_scale"):
        training_set(crop_scale=0)
    with pytest.raises(ValueError, match="epoch"):
        training_set().set_epoch(-1)
    dataset = toy_dataset()
    dataset.samples[3].visible[:] = [True, False, False, False, False]
    with pytest.raises(ValueError, match=r"face face3\.png: the visible landmarks span no area"):
        training_set(dataset)


def test_unreadable_image_names_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    dataset = toy_dataset(count=1)
    dataset.samples[0].image_path, dataset.samples[0].image = broken, None
    with pytest.raises(ImageError, match="broken.jpg"):
        training_set(dataset)[0]


def test_training_images_are_read_as_displayed(tmp_path):
    """A file stored sideways with an EXIF Orientation tag gives the crop of the upright image its landmarks
    were marked on; ``exif_transpose=False`` gives the stored pixels."""
    dataset = toy_dataset(count=1)
    upright = dataset.samples[0].image
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate the stored pixels 90° clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(tmp_path / "phone.png", exif=exif)
    expected = training_set(dataset)[0]["image"]
    dataset.samples[0].image_path, dataset.samples[0].image = tmp_path / "phone.png", None
    assert torch.equal(training_set(dataset)[0]["image"], expected)
    assert not torch.equal(training_set(dataset, exif_transpose=False)[0]["image"], expected)


def test_real_300w_faces_batch_through_a_loader():
    dataset = read_dataset(f"300w:{shared_path('300w-subset')}")
    dataset.samples = dataset.samples[:8]
    codec = build_codec("h3r", input_size=128, stride=4)
    plain = next(iter(DataLoader(FaceTrainingSet(dataset, 128, codec), batch_size=8)))
    assert plain["weights"].eq(1).all() and plain["targets"].sum((2, 3)).eq(1).all()
    augmented = next(iter(DataLoader(FaceTrainingSet(dataset, 128, codec, augment=AugmentSettings()), batch_size=8)))
    assert augmented["image"].shape == (8, 3, 128, 128) and augmented["weights"].mean() > 0.9
