"""The CPU fast path: run the frozen backbone once, keep the pooled features, train only the head on them.

On a 2-core CPU the backbone's forward pass is nearly all the cost of an epoch; with the backbone frozen its
output never changes, so it is computed once per photo (and once for the mirrored photo, a free augmentation)
and kept on disk beside the image cache. A head epoch over cached features then takes seconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from maskcls.fileio import atomic_write
from maskcls.models.fusion import fold_batchnorm
from maskcls.progress import track


class HeadOnly(nn.Module):
    """The classifier's head as a module of its own, fed with pooled features (shares the head's weights)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.classifier.forward_head(features)


def features_key(image_key: str, backbone: str, weights: str, flip: bool, sharing: str = "hard",
                 side_trunk: str | None = None) -> str:
    """A cache key for features: the photos and their preprocessing, the backbone, its weights, its sharing
    (soft-shared towers give each task a copy of the features) and its side trunk (hard sharing without one keeps
    the keys it always had)."""
    text = f"{image_key}|{backbone}|{weights}|flip={flip}" + ("" if sharing == "hard" else f"|sharing={sharing}")
    text += "" if side_trunk is None else f"|side={side_trunk}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@torch.no_grad()
def extract_features(classifier: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 64,
                     flip: bool = False, workers: int = 0, channels_last: bool = True) -> torch.Tensor:
    """Pooled backbone features ``[N, C]`` of every item of ``dataset`` (optionally mirrored)."""
    classifier.eval()
    folded = fold_batchnorm(classifier)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    chunks = []
    label = "features (mirrored)" if flip else "features"
    for images, _ in track(loader, label, total=len(loader)):
        images = images.to(device).contiguous(memory_format=fmt)
        if flip:
            images = torch.flip(images, dims=[3])
        chunks.append(folded.forward_features(images).float().cpu())
    return torch.cat(chunks) if chunks else torch.zeros(0, 0)


def cached_features(classifier: nn.Module, dataset: Dataset, key: str, cache_dir: Path | None,
                    device: torch.device, batch_size: int, flip: bool, workers: int = 0) -> torch.Tensor:
    """:func:`extract_features`, stored as ``<key>.npy`` in ``cache_dir`` and reused when present."""
    if cache_dir is not None:
        path = Path(cache_dir) / f"features-{key}.npy"
        if path.is_file():
            try:
                return torch.from_numpy(np.load(path))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a damaged file is rebuilt below
    features = extract_features(classifier, dataset, device, batch_size, flip, workers)
    if cache_dir is not None:
        with atomic_write(path, "wb") as handle:
            np.save(handle, features.numpy())
    return features
