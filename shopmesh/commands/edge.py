"""``shopmesh edge``: export a registry version to a signed int8 ONNX bundle; classify with the device SDK."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from edge.export import export_registry_version
from edge.runtime import EdgeClient
from ensemble.registry import Registry
from shopmesh.progress import ticking
from shopmesh.signing import bundle_signer, trusted_keys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("edge", help="edge bundles and the device SDK")
    group = parser.add_subparsers(dest="edge_command", required=True, metavar="EDGE_COMMAND")

    export = group.add_parser("export", help="export an intent version to a signed int8 ONNX bundle")
    export.add_argument("--version", default=None, help="intent version (default: latest)")
    export.add_argument("--out", type=Path, default=None, help="bundle directory (default: in the workspace)")
    export.set_defaults(handler=run_export)

    public = group.add_parser("public-key", help="print the platform's public key and key id for device settings")
    public.set_defaults(handler=run_public_key)

    classify = group.add_parser("classify", help="classify messages on the device, escalating unsure ones")
    classify.add_argument("texts", nargs="+", help="messages to classify")
    classify.add_argument("--bundle", type=Path, required=True, help="bundle directory made by `edge export`")
    classify.add_argument("--cluster", default="http://127.0.0.1:8000", help="cluster URL for escalations")
    classify.set_defaults(handler=run_classify)


def run_export(args: argparse.Namespace) -> int:
    registry = Registry(args.workspace.registry)
    version = registry.resolve("intent", args.version)
    out = args.out or args.workspace.bundles / version.id.replace(":", "-")
    signer = bundle_signer(args.workspace)
    with ticking(f"exporting {version.id} to int8 ONNX and validating it"):
        info = export_registry_version(registry, out, signer=signer, version=version.id)
    print(json.dumps({"bundle": str(info.path), "version": version.id, "model_bytes": info.model_size_bytes}, indent=2))
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    key = trusted_keys(args.workspace)[0]
    print(json.dumps({"key_id": key.key_id, "public_key": key.hex()}, indent=2))
    return 0


def run_classify(args: argparse.Namespace) -> int:
    with EdgeClient(
        args.bundle,
        cluster_url=args.cluster,
        trusted_keys=trusted_keys(args.workspace),
        outbox_dir=args.workspace.outbox,
    ) as client:
        for text in args.texts:
            print(json.dumps(asdict(client.classify(text))))
    return 0
