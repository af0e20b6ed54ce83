"""faceaug: enlarge facial-expression datasets with GANimation + SinGAN ("SinGANimation")."""

import os

# albumentations otherwise checks the network for updates at import time.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
