"""Using trained models: loading their files and generating images. Never imports faceaug.training
(tests/test_layers.py checks), so sampling needs none of the training code."""
