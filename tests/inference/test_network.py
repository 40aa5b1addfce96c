"""decode_output: which map of a binary head each codec decodes."""

import torch

from h3r.codecs import build_codec
from h3r.inference.network import decode_output


def binary_output() -> torch.Tensor:
    """(1, 2, 1, 4, 4) logits whose foreground logit peaks at cell (1, 0) but probability at (2, 3).

    At (1, 0) the logits are (0, 3): probability sigmoid(3) = 0.95; at (2, 3) they are (-5, 2): sigmoid(7) = 0.999.
    """
    output = torch.full((1, 2, 1, 4, 4), -4.0)
    output[0, 0] = 4.0
    output[0, :, 0, 0, 1] = torch.tensor([0.0, 3.0])
    output[0, :, 0, 3, 2] = torch.tensor([-5.0, 2.0])
    return output


def test_a_logit_decoder_reads_the_foreground_logits():
    keypoints, _ = decode_output(binary_output(), build_codec("h3r", input_size=16, stride=4, topk=1))
    assert keypoints[0, 0].tolist() == [4.0, 0.0]


def test_a_probability_decoder_reads_the_foreground_probabilities():
    keypoints, scores = decode_output(binary_output(), build_codec("vanilla-round", input_size=16, stride=4))
    assert keypoints[0, 0].tolist() == [8.0, 12.0]
    assert torch.allclose(scores, torch.sigmoid(torch.tensor([[7.0]])))
