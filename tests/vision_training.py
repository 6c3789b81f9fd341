"""One tiny vision version trained by ``shopmesh train vision`` on the bundled subset, shared by every test
session's modules that need one (the member's tests, the cluster's vision route, the storefront upload)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ensemble.registry import Registry
from ensemble.vision import VisionPredictor
from ensemble.vision.artifact import MEMBER, load_vision
from shopmesh.cli import main

__all__ = ["TINY_TRAIN", "TrainedVision", "copy_vision_version", "train_tiny_vision"]

# The smallest training that still runs both phases (head warm-up, then every layer) on the bundled subset.
TINY_TRAIN = ["--bundled", "--epochs", "1", "--warmup-epochs", "1", "--image-size", "64"]


@dataclass(frozen=True)
class TrainedVision:
    home: Path
    printed: dict[str, object]
    predictor: VisionPredictor

    @property
    def registry(self) -> Registry:
        return Registry(self.home / "registry")


def train_tiny_vision(home: Path) -> TrainedVision:
    """Train and publish one vision version into ``home``'s registry with the command line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--home", str(home), "train", "vision", *TINY_TRAIN])
    if code != 0:
        raise RuntimeError(f"shopmesh train vision exited {code}: {out.getvalue()[-2000:]}")
    printed = json.loads(out.getvalue())
    return TrainedVision(home, printed, load_vision(Registry(home / "registry")))


def copy_vision_version(trained: TrainedVision, registry: Registry) -> str:
    """Copy the trained version, files and manifest as they are, into ``registry`` as its next vision version."""
    source = trained.registry.latest(MEMBER)
    number = len(registry.list(MEMBER)) + 1
    target = registry.root / MEMBER / f"v{number:04d}"
    shutil.copytree(source.path, target)
    return registry.resolve(MEMBER, target.name).id
