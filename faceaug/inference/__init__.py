"""Inference: using trained models (the GANimation editor, the SinGAN sampler), loading their files and generating
images. Imports faceaug.models, never faceaug.training (tests/test_layers.py checks it)."""
