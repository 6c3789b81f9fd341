"""TCP ports for a Flower deployment on one machine: the ones a caller pins, checked, and free ones for the rest."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from federation.errors import FederationConfigError

__all__ = ["DeploymentPorts", "choose_ports"]


@dataclass(frozen=True)
class DeploymentPorts:
    """TCP ports of a local deployment: the SuperLink's (Fleet, Control, ServerAppIo) and each SuperNode's."""

    superlink: int
    supernodes: tuple[int, ...]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str, taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port


def choose_ports(
    host: str, num_nodes: int, superlink_port: int | None = None, supernode_ports: Sequence[int] | None = None
) -> DeploymentPorts:
    """Validate the given ports (distinct, free on ``host``) and pick free ephemeral ports for the rest.

    An ephemeral port never equals a fixed service port such as Ray Serve's 8000.
    """
    if supernode_ports is not None and len(supernode_ports) != num_nodes:
        raise FederationConfigError(
            f"supernode_ports has {len(supernode_ports)} port(s) for {num_nodes} node(s); give one per node or None"
        )
    given = [p for p in [superlink_port, *(supernode_ports or [])] if p is not None]
    if len(set(given)) != len(given):
        raise FederationConfigError(f"ports {given} repeat a port; every Flower process needs its own port")
    for port in given:
        if not 1 <= port <= 65_535:
            raise FederationConfigError(f"port {port} is outside [1, 65535]; choose another or pass None")
        if not _port_is_free(host, port):
            raise FederationConfigError(
                f"port {port} on {host} is already in use (Ray Serve listens on 8000); choose another or pass None"
            )
    taken = set(given)
    link = superlink_port if superlink_port is not None else _free_port(host, taken)
    taken.add(link)
    nodes: list[int] = []
    for i in range(num_nodes):
        port = supernode_ports[i] if supernode_ports is not None else _free_port(host, taken)
        taken.add(port)
        nodes.append(port)
    return DeploymentPorts(superlink=link, supernodes=tuple(nodes))
