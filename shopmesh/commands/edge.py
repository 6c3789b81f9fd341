"""``shopmesh edge``: export a registry version to a signed int8 ONNX bundle, publish it to devices with a staged
rollout, classify with the device SDK."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cluster.config import EDGE_BUNDLES_DIR
from cluster.edge_rollout import BundleCatalog
from edge.export import export_registry_version
from edge.export.cascade import DEFAULT_MAX_LOSS
from edge.export.from_registry import vision_export_from_registry
from edge.export.vision_bundle import VisionExport
from edge.export.vision_validation import DEFAULT_MAX_ACCURACY_LOSS
from edge.runtime import EdgeClient, TrustStore
from ensemble.datasets.seeds import bundled_intent_splits
from ensemble.registry import Registry
from ensemble.vision.artifact import MEMBER as VISION_MEMBER
from shopmesh.commands.state_dir import add_state_dir_argument, state_dir_of
from shopmesh.errors import CommandError
from shopmesh.progress import ticking
from shopmesh.signing import bundle_signer, trusted_keys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("edge", help="edge bundles and the device SDK")
    group = parser.add_subparsers(dest="edge_command", required=True, metavar="EDGE_COMMAND")

    export = group.add_parser(
        "export", help="export an intent version (and the latest vision version) to a signed int8 ONNX bundle"
    )
    export.add_argument("--version", default=None, help="intent version (default: latest)")
    export.add_argument("--out", type=Path, default=None, help="bundle directory (default: in the workspace)")
    export.add_argument(
        "--max-loss",
        type=float,
        default=DEFAULT_MAX_LOSS,
        help="fit the escalation threshold on the Bitext validation split so that at most this share of messages "
        "is answered otherwise than the cluster would (default: 0.005, half an accuracy point)",
    )
    export.add_argument(
        "--threshold", type=float, default=None, help="a fixed escalation threshold instead of fitting one"
    )
    export.add_argument(
        "--vision-version",
        default=None,
        help="vision version to add as the bundle's photo model (default: the latest, when the registry holds one)",
    )
    export.add_argument(
        "--no-vision", action="store_true", help="leave the photo model out even when the registry holds one"
    )
    export.add_argument(
        "--vision-labels",
        type=Path,
        default=None,
        help="photo table (images.csv columns) whose train/val/test photos calibrate, fit and validate the int8 "
        "photo model (default: the one the vision version was trained on, from its lineage)",
    )
    export.add_argument(
        "--vision-images", type=Path, default=None, help="folder the photo table's paths are relative to"
    )
    export.add_argument(
        "--vision-max-accuracy-loss",
        type=float,
        default=DEFAULT_MAX_ACCURACY_LOSS,
        help="stop the export when the int8 photo model loses more than this share of fine or coarse accuracy "
        "against torch on the test photos (default: 0.01, one point; with few test photos one photo weighs more)",
    )
    export.set_defaults(handler=run_export)

    publish = group.add_parser(
        "publish", help="serve an exported bundle to devices from the cluster, to a share of them first"
    )
    publish.add_argument("version", help="intent version whose bundle to publish (e.g. intent:v0002, v0002, 2)")
    publish.add_argument(
        "--rollout",
        type=int,
        default=100,
        help="percentage of devices (by a stable hash of the device id) that get this version; the others keep "
        "the last version published to 100 (default: 100, which completes the rollout)",
    )
    publish.add_argument(
        "--bundle", type=Path, default=None, help="bundle directory (default: the one `edge export` wrote)"
    )
    add_state_dir_argument(publish)
    publish.set_defaults(handler=run_publish)

    public = group.add_parser("public-key", help="print the platform's public key and key id for device settings")
    public.set_defaults(handler=run_public_key)

    classify = group.add_parser("classify", help="classify messages on the device, escalating unsure ones")
    classify.add_argument("texts", nargs="+", help="messages to classify")
    classify.add_argument("--bundle", type=Path, required=True, help="bundle directory made by `edge export`")
    classify.add_argument("--cluster", default="http://127.0.0.1:8000", help="cluster URL for escalations")
    _api_key_option(classify)
    classify.set_defaults(handler=run_classify)

    photo = group.add_parser("classify-image", help="classify photos on the device, escalating unsure ones")
    photo.add_argument("photos", nargs="+", type=Path, help="photo files (JPEG, PNG, WebP)")
    photo.add_argument("--bundle", type=Path, required=True, help="bundle directory with a photo model")
    photo.add_argument("--cluster", default="http://127.0.0.1:8000", help="cluster URL for escalations")
    photo.add_argument("--top-k", type=int, default=5, help="similar products to list (1-20)")
    _api_key_option(photo)
    photo.set_defaults(handler=run_classify_image)


def run_export(args: argparse.Namespace) -> int:
    registry = Registry(args.workspace.registry)
    version = registry.resolve("intent", args.version)
    out = args.out or args.workspace.bundles / version.id.replace(":", "-")
    if args.threshold is not None:
        calibration: dict[str, Any] = {"confidence_threshold": args.threshold}
    else:
        texts = bundled_intent_splits().val["instruction"].tolist()
        calibration = {"calibration_texts": texts, "max_loss": args.max_loss}
    vision = _vision_export(registry, args)
    if vision is not None:
        calibration["vision"] = vision
    what = f"{version.id}{f' and {vision.version_id}' if vision is not None else ''}"
    with ticking(f"exporting {what} to int8 ONNX, validating and fitting escalation thresholds"):
        info = export_registry_version(
            registry, out, signer=bundle_signer(args.workspace), version=version.id, **calibration
        )
    fit = info.manifest.threshold_fit
    summary = {
        "bundle": str(info.path),
        "version": version.id,
        "model_bytes": info.model_size_bytes,
        "confidence_threshold": info.manifest.confidence_threshold,
        "threshold_fit": asdict(fit) if fit is not None else None,
        "vision": None,
    }
    if info.vision is not None:
        summary["vision"] = {
            **info.vision.spec.to_dict(),
            "model_bytes": info.vision.model_size_bytes,
            "fp32_bytes": info.vision.fp32_size_bytes,
            "validation": info.vision.report.to_dict(),
        }
    print(json.dumps(summary, indent=2))
    return 0


def _vision_export(registry: Registry, args: argparse.Namespace) -> VisionExport | None:
    """The vision version that joins the bundle: the one asked for, else the latest if any, unless --no-vision."""
    if args.no_vision:
        if args.vision_version is not None:
            raise CommandError("--no-vision and --vision-version contradict each other; pass one of them")
        return None
    if args.vision_version is None and not registry.list(VISION_MEMBER):
        return None
    if not 0.0 <= args.vision_max_accuracy_loss <= 1.0:
        raise CommandError(
            f"--vision-max-accuracy-loss must lie in [0, 1], got {args.vision_max_accuracy_loss}; "
            "pass a share of accuracy such as 0.01"
        )
    if (args.vision_labels is None) != (args.vision_images is None):
        raise CommandError("pass --vision-labels FILE.csv and --vision-images DIR together, or neither")
    version = registry.resolve(VISION_MEMBER, args.vision_version).id
    with ticking(f"decoding the photos of {version}"):
        return vision_export_from_registry(
            registry,
            version,
            images_dir=args.vision_images,
            labels=args.vision_labels,
            max_loss=args.max_loss,
            max_accuracy_loss=args.vision_max_accuracy_loss,
        )


def run_publish(args: argparse.Namespace) -> int:
    workspace = args.workspace
    if args.bundle is not None:
        expected, bundle = args.version, args.bundle
    else:
        expected = Registry(workspace.registry).resolve("intent", args.version).id
        bundle = workspace.bundles / expected.replace(":", "-")
        if not bundle.is_dir():
            raise CommandError(f"no bundle of {expected} in {bundle}; run `shopmesh edge export --version {expected}`")
    state_dir = state_dir_of(args)
    catalog = BundleCatalog(state_dir / EDGE_BUNDLES_DIR)
    state = catalog.publish(bundle, TrustStore(trusted_keys(workspace)), args.rollout, version=expected)
    print(json.dumps({**asdict(state), "catalog": str(catalog.root)}, indent=2))
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    key = trusted_keys(args.workspace)[0]
    print(json.dumps({"key_id": key.key_id, "public_key": key.hex()}, indent=2))
    return 0


API_KEY_ENV = "SHOPMESH_API_KEY"


def _api_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"the merchant's key for escalations to a cluster that has keys (default: ${API_KEY_ENV}; prefer the "
        "variable, a command line is visible to other users of the machine)",
    )


def run_classify(args: argparse.Namespace) -> int:
    with EdgeClient(
        args.bundle,
        cluster_url=args.cluster,
        trusted_keys=trusted_keys(args.workspace),
        outbox_dir=args.workspace.outbox,
        api_key=args.api_key,
    ) as client:
        for text in args.texts:
            print(json.dumps(asdict(client.classify(text))))
    return 0


def run_classify_image(args: argparse.Namespace) -> int:
    with EdgeClient(
        args.bundle,
        cluster_url=args.cluster,
        trusted_keys=trusted_keys(args.workspace),
        outbox_dir=args.workspace.outbox,
        api_key=args.api_key,
    ) as client:
        for photo in args.photos:
            print(json.dumps({"photo": str(photo), **asdict(client.classify_image(photo, top_k=args.top_k))}))
    return 0
