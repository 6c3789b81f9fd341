"""Child process of ``test_secure_aggregation.py``: the secure rounds on Flower's simulation runtime, with the
ServerApp's grid wrapped so that every reply the server receives is saved, then the aggregate it ends with.

Run as ``python tests/federation/_secagg_capture.py RUN_CONFIG.json OUT_DIR NUM_NODES``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message
from flwr.common import bytes_to_ndarray
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation
from flwr.supercore.run import Run

from federation.client_app import app as client_app
from federation.config import parse_run_config
from federation.secure_aggregation import aggregate_adapters, run_secure_federation
from federation.task import initial_adapters, resolve_base_version


class CapturingGrid(Grid):
    """Delegates to Flower's grid and keeps every array each reply carries, as the server received it."""

    def __init__(self, inner: Grid) -> None:
        self.inner = inner
        self.received: dict[str, np.ndarray[Any, Any]] = {}

    def set_run(self, run: Run) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        return self.inner.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self.inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = list(self.inner.send_and_receive(messages, timeout=timeout))
        for reply in replies:
            if not reply.has_content():
                continue
            tag = f"{len(self.received)}-{reply.metadata.message_type}-{reply.metadata.src_node_id}"
            for record_name, record in reply.content.array_records.items():
                for key, array in record.items():
                    self.received[f"{tag}/{record_name}/{key}"] = array.numpy()
            for record_name, config in reply.content.config_records.items():
                for key, value in config.items():
                    for index, item in enumerate(value if isinstance(value, list) else [value]):
                        if isinstance(item, bytes):
                            try:
                                self.received[f"{tag}/{record_name}/{key}/{index}"] = bytes_to_ndarray(item)
                            except ValueError:
                                continue  # key material and ciphertexts are no arrays
        return replies


def main() -> int:
    run_config, out_dir, num_nodes = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    config = parse_run_config(json.loads(run_config.read_text(encoding="utf-8")))
    server_app = ServerApp()

    @server_app.main()
    def _(grid: Grid, context: Context) -> None:
        capturing = CapturingGrid(grid)
        result = run_secure_federation(capturing, context, config)
        like = initial_adapters(config, resolve_base_version(config))
        aggregate = aggregate_adapters(context, list(like), like)
        np.savez(out_dir / "received.npz", **capturing.received)
        np.savez(out_dir / "aggregate.npz", **{name: t.numpy() for name, t in aggregate.items()})
        (out_dir / "result.json").write_text(json.dumps(result.to_dict(), default=str), encoding="utf-8")

    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": 2}}
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=num_nodes, backend_config=backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
