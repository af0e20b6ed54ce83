"""Write skimage's public-domain astronaut photograph as a one-face dataset for the bundled-editor demo:
OUT/neutral/astronaut.png (a class folder; `faceaug preprocess --aus-from-labels` reads the label).

    python examples/astronaut.py demo-out/astronaut-data
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
from skimage import data


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "astronaut-data") / "neutral"
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "astronaut.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    print(f"wrote {out / 'astronaut.png'}")


if __name__ == "__main__":
    main()
