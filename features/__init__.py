"""Frame-feature encoders for your own videos (pure ``nn.Module``s) and the video decoding that feeds them.

- :mod:`features.resnet` — ImageNet ResNet-152, torchvision parameter names (HERO's 2D stream, 2048-d);
- :mod:`features.slowfast` — SlowFast 8x8 R50, pytorchvideo ``create_slowfast`` parameter names (HERO's 3D
  stream, 2304-d);
- :mod:`features.clip` — a Hugging Face CLIP vision tower (single-stream alternative);
- :mod:`features.streams` — uint8 frames → normalised input → one vector per window, per encoder;
- :mod:`features.video` — PyAV decoding into one window per ``frame_interval`` (file IO);
- :mod:`features.weights` — local checkpoint loading, strict (file IO).

Nothing here downloads: weights come from local files. ``scripts/extract_features.py`` writes the db.
"""
