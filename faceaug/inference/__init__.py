"""Inference: using trained models (the GANimation editor, the SinGAN sampler). Imports faceaug.models, never
faceaug.training (tests/test_layers.py checks it)."""
