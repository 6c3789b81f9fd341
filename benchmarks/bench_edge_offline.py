"""What a hanging cluster costs the device: N unsure messages with and without the circuit breaker.

A loopback socket accepts connections and never answers (a cluster that hangs). With the breaker (open after
one failed call) the first message waits one timeout and the rest are answered on the device at once; with the
breaker effectively off every message waits its own timeout. Prints wall times and their ratio; asserts nothing.

    .venv/bin/python benchmarks/bench_edge_offline.py [--messages N] [--timeout S]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from edge.export import BundleSigner, export_intent
from edge.runtime import EdgeClient, RetryPolicy, TrustedKey
from ensemble.members.intent import IntentModel


def hanging_cluster() -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def run(
    bundle: Path, key: TrustedKey, url: str, outbox: Path, texts: list[str], timeout_s: float, breaker_failures: int
) -> float:
    with EdgeClient(
        bundle,
        cluster_url=url,
        trusted_keys=[key],
        outbox_dir=outbox,
        confidence_threshold=1.0,
        timeout_s=timeout_s,
        retry=RetryPolicy(attempts=1),
        breaker_failures=breaker_failures,
    ) as client:
        start = time.perf_counter()
        answers = [client.classify(text) for text in texts]
        elapsed = time.perf_counter() - start
    if {a.source for a in answers} != {"device-offline"}:
        raise RuntimeError("every message should have been answered offline")
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=0.2)
    args = parser.parse_args()
    signer = BundleSigner.generate()
    model = IntentModel.tiny(["order_status", "returns", "greeting"], seed=0)
    model.eval()
    texts = [f"message {n}: where is my parcel" for n in range(args.messages)]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_intent(model, Path(tmp) / "bundle", version_id="intent:v0001", signer=signer).path
        sock, url = hanging_cluster()
        with_breaker = run(bundle, signer.trusted_key, url, Path(tmp) / "a", texts, args.timeout, breaker_failures=1)
        without = run(bundle, signer.trusted_key, url, Path(tmp) / "b", texts, args.timeout, breaker_failures=10**9)
        sock.close()
    print(f"messages={args.messages} timeout={args.timeout}s, cluster accepting connections and never answering")
    print(f"{'breaker':<10} {'wall s':>8} {'per msg ms':>11}")
    print(f"{'on':<10} {with_breaker:8.2f} {1000 * with_breaker / args.messages:11.1f}")
    print(f"{'off':<10} {without:8.2f} {1000 * without / args.messages:11.1f}")
    print(f"off / on: {without / with_breaker:.1f}x")
