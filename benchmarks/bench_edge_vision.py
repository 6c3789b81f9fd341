"""The vision member on the device: torch fp32 eager against the bundle's ORT int8 graph at batch 1, same photos,
interleaved photo by photo in one run; bundle size fp32 vs int8; accuracy before/after and agreement.

Both engines get the same threads (``--threads``, default 1 as a device runs). Two timings per engine: the
network alone on prepared inputs, and end to end from the photo's bytes (torch: the member's decoding and
resizing; device: the SDK's Pillow + numpy preprocessing). Prints and writes
benchmarks/results/edge_vision.json.

Run: ``.venv/bin/python benchmarks/bench_edge_vision.py [--home DIR] [--version vision:vNNNN] [--photos N]``
(needs a vision version in the workspace's registry: ``shopmesh train vision``; its photos come from its lineage
or ``--labels/--images``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from edge.export.from_registry import vision_export_from_registry
from edge.export.vision_bundle import VisionExport, catalogue_records, write_vision
from edge.export.vision_onnx import network_inputs
from edge.runtime.vision import VisionRunner
from ensemble.registry import Registry
from ensemble.vision import decode_image
from ensemble.vision.artifact import MEMBER as VISION_MEMBER
from ensemble.vision.augment import resize_batch
from ensemble.vision.data import image_to_tensor, load_grocery
from shopmesh.config import Workspace

logger = logging.getLogger(__name__)


def _photos(
    registry: Registry, export: VisionExport, labels: Path | None, images: Path | None, limit: int | None
) -> list[bytes]:
    """The bytes of the test photos the export decoded (the version's own, unless --labels/--images), in order."""
    details = registry.load(VISION_MEMBER, export.version_id).lineage.details
    labels = labels if labels is not None else Path(str(details["labels"]))
    images = images if images is not None else Path(str(details["images"]))
    data = load_grocery(images, labels, catalogue=export.catalogue)
    paths = [data.images_dir / str(p) for p in data.split("test")["path"]]
    return [p.read_bytes() for p in paths[:limit]]


def _summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path(".shopmesh"), help="workspace holding the registry")
    parser.add_argument("--version", default=None, help="vision version (default: the latest)")
    parser.add_argument("--labels", type=Path, default=None, help="photo table (default: the version's lineage)")
    parser.add_argument("--images", type=Path, default=None, help="photo folder (default: the version's lineage)")
    parser.add_argument("--photos", type=int, default=None, help="time at most this many test photos")
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and for ONNX Runtime")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "edge_vision.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(logging.WARNING)  # onnxruntime's quantizer logs every rescaled weight at INFO
    logger.setLevel(logging.INFO)
    registry = Registry(Workspace(args.home).registry)
    export = vision_export_from_registry(
        registry, args.version, images_dir=args.images, labels=args.labels, max_accuracy_loss=1.0
    )
    torch.set_num_threads(args.threads)
    model = export.model.eval()
    temperature = float(model.temperature)
    with tempfile.TemporaryDirectory(prefix="bench-edge-vision-") as scratch:
        part = write_vision(Path(scratch), export)  # the bundle's int8 graph, validated on the test split
        int8_bytes = (Path(scratch) / part.spec.model_file).read_bytes()
    runner = VisionRunner(int8_bytes, catalogue_records(export.catalogue), part.spec, intra_op_threads=args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    session = ort.InferenceSession(int8_bytes, sess_options=options, providers=["CPUExecutionProvider"])

    photos = _photos(registry, export, args.labels, args.images, args.photos)
    inputs = network_inputs(export.test.pixels[: len(photos)], export.config.image_size)  # [N, 3, R, R]
    fine = export.test.fine.numpy()[: len(photos)]
    timings: dict[str, list[float]] = {"torch_net": [], "int8_net": [], "torch_e2e": [], "int8_e2e": []}
    torch_best, int8_best = [], []
    with torch.no_grad():
        for _ in range(3):  # warm-up: first calls allocate
            model(torch.from_numpy(inputs[:1]))
            session.run(["logits"], {"pixels": inputs[:1]})
        for i, photo in enumerate(photos):
            start = time.perf_counter()
            logits = model.classify(model.embed(torch.from_numpy(inputs[i : i + 1])))
            timings["torch_net"].append((time.perf_counter() - start) * 1e3)
            torch_best.append(int(logits.argmax()))
            start = time.perf_counter()
            out = session.run(["logits"], {"pixels": inputs[i : i + 1]})[0]
            timings["int8_net"].append((time.perf_counter() - start) * 1e3)
            int8_best.append(int(np.argmax(out)))
            start = time.perf_counter()
            pixels = image_to_tensor(decode_image(photo), export.config.cache_size)[None]
            torch.softmax(model(resize_batch(pixels, export.config.image_size)), dim=1)
            timings["torch_e2e"].append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            runner.predict(photo)
            timings["int8_e2e"].append((time.perf_counter() - start) * 1e3)
    torch_pred, int8_pred = np.asarray(torch_best), np.asarray(int8_best)
    coarse = np.asarray(export.catalogue.fine_to_coarse)
    summaries = {name: _summary(values) for name, values in timings.items()}
    report: dict[str, Any] = {
        "version": export.version_id,
        "photos": len(photos),
        "image_size": export.config.image_size,
        "threads": args.threads,
        "temperature": round(temperature, 4),
        "timing": summaries,
        "speedup_network_median": round(summaries["torch_net"]["median_ms"] / summaries["int8_net"]["median_ms"], 2),
        "speedup_end_to_end_median": round(summaries["torch_e2e"]["median_ms"] / summaries["int8_e2e"]["median_ms"], 2),
        "size_mb": {"fp32_onnx": round(part.fp32_size_bytes / 1e6, 2), "int8_onnx": round(len(int8_bytes) / 1e6, 2)},
        "size_ratio": round(part.fp32_size_bytes / len(int8_bytes), 2),
        "accuracy_fine": {
            "torch_fp32": round(float((torch_pred == fine).mean()), 4),
            "int8": round(float((int8_pred == fine).mean()), 4),
        },
        "accuracy_coarse_of_fine": {
            "torch_fp32": round(float((coarse[torch_pred] == coarse[fine]).mean()), 4),
            "int8": round(float((coarse[int8_pred] == coarse[fine]).mean()), 4),
        },
        "agreement": round(float((torch_pred == int8_pred).mean()), 4),
        "export_validation": part.report.to_dict(),
        "escalation": part.spec.threshold_fit.__dict__ if part.spec.threshold_fit is not None else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    logger.info("%s", json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
