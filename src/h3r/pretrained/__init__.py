"""Pretrained landmark models: the bundle format (``h3r.pretrained.bundle``) and the bundles shipped here.

A bundle is a folder of three files:
    - ``model.safetensors``: the network's state dict (float32 weights), read without unpickling;
    - ``model.json``: everything needed to rebuild and run it (network, codec, landmark scheme,
      preprocessing, flip test) and where it came from (training command and config, scores);
    - ``MODEL_CARD.md``: the same for people: data, architecture, scores, intended use, limitations, terms.

``h3r export bundle`` writes one from a training run; ``LandmarkDetector.from_pretrained`` reads any bundle
folder, or a shipped one by name (``face68``, in ``face68/`` beside this file).
"""

WEIGHTS_FILE = "model.safetensors"
DESCRIPTION_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
