"""Converting synthetic outputs into the download formats (worker side)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def csv_to_parquet(csv: Path, out: Path) -> Path:
    import pandas as pd

    pd.read_csv(csv).to_parquet(out, index=False)
    return out


def neutralise_csv(csv: Path, out: Path) -> Path:
    """The CSV download: every cell as sampled, except text a spreadsheet would run as a
    formula, which gets a leading single quote (``synthgen.tabular.io.neutralise_formula``)."""
    from synthgen.tabular.io import neutralise_csv as neutralise

    return neutralise(csv, out)


def npz_to_png_zip(npz: Path, out: Path) -> Path:
    """One PNG per image, in one folder per label: ``<label>/<index>.png``."""
    import numpy as np
    from PIL import Image

    with np.load(npz, allow_pickle=False) as data:
        images = data["images"]
        labels = data["labels"].reshape(len(images), -1)[:, 0] if "labels" in data else None
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, image in enumerate(images):
            array = image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image
            if array.dtype != np.uint8:
                array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(array).save(buf, format="PNG")
            folder = str(labels[i]) if labels is not None else "unlabelled"
            zf.writestr(f"{folder}/{i:06d}.png", buf.getvalue())
    return out
