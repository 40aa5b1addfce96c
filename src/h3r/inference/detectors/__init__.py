"""Face detectors that h3r runs with its own pre- and post-processing, and the box helpers they share.

- ``blazeface``: MediaPipe's BlazeFace short-range network (a shipped ``.tflite`` file run by
  ``ai-edge-litert``), tiled over large images.
- ``mtcnn``: the three MTCNN networks (Zhang et al. 2016) in plain torch with facenet-pytorch's weights,
  shipped as safetensors.
- ``boxes``: overlaps, non-maximum suppression, ordering and the image check.

``h3r.inference.face_detection`` registers them by name with their box calibrations.
"""
