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

        For the binary head, see ``decode_output``.
        """
        return decode_output(self.model(crops), self.codec)


def decode_output(output: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, torch.Tensor]:
    """A network's raw output → (N, K, 2) landmarks in input pixels and (N, K) scores (see ``DecodingNetwork``).

    For the binary head, a codec that decodes logits (``codec.decodes_logits``, as the released top-k
    decoder) gets the foreground logits, any other (argmax, DARK, ...) the foreground probabilities of the
    2-class softmax; the score is the highest foreground probability.

    Args:
        output: (N, 2, K, h, w) background/foreground logits (binary head) or (N, K, h, w) maps.
        codec: the codec the network was trained with, or another one to decode its maps with.
    """
    if output.dim() == 5:
        probabilities = torch.softmax(output, dim=1)[:, 1]  # (N, K, h, w)
        keypoints, _ = codec.decode(output[:, 1] if codec.decodes_logits else probabilities, check=False)
        return keypoints, probabilities.flatten(2).amax(-1)
    return codec.decode(output, check=False)
