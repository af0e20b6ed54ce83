"""Train your own FER model on a faceaug manifest (originals + generated faces), evaluate it on the real test faces.

    python examples/train_on_manifest.py WORK/expanded/manifest.parquet [--epochs 20] [--size 48]

`ManifestDataset` selects rows (split, generated or not, stages), keeps one label ↔ index map for every split,
validates the paths, and hands each image to an albumentations transform. Swap `FerNet` for any torch model.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from faceaug.fer import ManifestDataset
from faceaug.fer.augment import classic_pipeline
from faceaug.fer.model import FerNet, FerNetConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--grey", action="store_true", help="train on grey images")
    args = parser.parse_args()
    torch.manual_seed(0)

    train = ManifestDataset(
        args.manifest, split="train", image_size=args.size, greyscale=args.grey, transform=classic_pipeline(seed=0)
    )  # real and generated training faces
    test = ManifestDataset(
        args.manifest,
        split="test",
        generated=False,
        labels=train.labels,
        unknown_labels="drop",
        image_size=args.size,
        greyscale=args.grey,
    )
    print(
        f"{len(train)} training images ({int(train.rows['is_generated'].sum())} generated), {len(test)} test "
        f"faces; labels: {', '.join(train.labels)}"
    )

    model = FerNet(FerNetConfig(n_classes=len(train.labels), in_channels=train.channels))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    weights = train.class_weights()  # generated images change the class balance: weight the loss
    for epoch in range(args.epochs):
        model.train()
        for x, y in DataLoader(train, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(x), y, weight=weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in DataLoader(test, batch_size=256))
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {correct / max(len(test), 1):.3f}")


if __name__ == "__main__":
    main()
