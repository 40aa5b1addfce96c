"""A landmark network and its codec's decoder as one module: normalised crops in, landmarks out."""

import torch
from torch import nn

from h3r.codecs import Codec


class DecodingNetwork(nn.Module):
    """``model`` followed by ``codec.decode``; traceable, so it exports to ONNX as one graph.

    Args:
        model: a network returning (N, 2, K, h, w) background/foreground logits (binary head) or
            (N, K, h, w) maps (heatmap head).
        codec: the codec the network was trained with; its ``heatmap_size`` must match the output.
    """

    def __init__(self, model: nn.Module, codec: Codec):
        super().__init__()
        self.model = model
        self.codec = codec

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, S, S) normalised crops → (N, K, 2) landmarks in crop pixels and (N, K) scores.

        For the binary head, the landmark is decoded from the foreground logits (as the released models
        do) and the score is the highest foreground probability of the 2-class softmax.
        """
        return decode_output(self.model(crops), self.codec)


def decode_output(output: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, torch.Tensor]:
    """A network's raw output → (N, K, 2) landmarks in input pixels and (N, K) scores (see ``DecodingNetwork``).

    Args:
        output: (N, 2, K, h, w) background/foreground logits (binary head) or (N, K, h, w) maps.
        codec: the codec the network was trained with.
    """
    if output.dim() == 5:
        keypoints, _ = codec.decode(output[:, 1], check=False)
        scores = torch.softmax(output, dim=1)[:, 1].flatten(2).amax(-1)
        return keypoints, scores
    return codec.decode(output, check=False)
