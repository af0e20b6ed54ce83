"""`faceaug report`: what a dataset / an expansion holds and whether the generated faces are any good.

inputs (find the tables and settings) → scoring (per-image metrics, metrics.parquet) → checks (warnings) →
verdict → terminal (rich) and html (one self-contained page, its sections in sections, the contact sheets' masks
from attention, the notes on how the expansion was made from notes). Never imports training: a report reads files.
"""
