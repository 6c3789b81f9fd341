"""A Flower federation on this machine, as the platform and merchants run it: one SuperLink, registered
SuperNodes and the ``flwr`` CLI, each a separate process with its own ``FLWR_HOME`` and log.

:class:`LocalFederation` is a context manager. Secure by default: it makes a local CA and a SuperLink
certificate for the host (:mod:`federation.certificates`), starts the SuperLink with TLS and SuperNode
authentication, makes one key pair per SuperNode, registers its public key with ``flwr supernode register``
and starts the SuperNode with the CA and its private key. Every process is ended when the block is left
(:mod:`federation._tagged_processes`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from federation._tagged_processes import StartedProcess, TaggedProcesses
from federation.certificates import DEFAULT_HOSTS, NodeKey, TlsFiles, make_local_tls, make_node_key
from federation.errors import FederatedRunError
from federation.flower_cli import (
    SecurityMode,
    flower_env,
    register_argv,
    superlink_argv,
    supernode_argv,
    write_connection,
)

__all__ = ["LocalFederation"]

_POLL_S = 0.2


class LocalFederation:
    """A SuperLink on ``host:port`` plus the SuperNodes started through :meth:`start_supernode`."""

    def __init__(
        self,
        run_dir: Path,
        *,
        host: str,
        port: int,
        connection: str,
        security: SecurityMode,
        project_root: Path | None = None,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.run_dir = run_dir
        self.host = host
        self.port = port
        self.connection = connection
        self.security = security
        self.project_root = project_root
        self.startup_timeout_s = startup_timeout_s
        self.processes = TaggedProcesses()
        self.tls: TlsFiles | None = None
        self._superlink: StartedProcess | None = None
        self.supernodes: list[StartedProcess] = []

    @property
    def superlink(self) -> StartedProcess:
        """The SuperLink process (started when the ``with`` block is entered)."""
        if self._superlink is None:
            raise FederatedRunError("the local SuperLink is not started; use LocalFederation in a `with` block")
        return self._superlink

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def cli_home(self) -> Path:
        """The ``FLWR_HOME`` of the operator's ``flwr`` CLI (its config.toml names this SuperLink)."""
        return self.run_dir / "cli" / "flwr-home"

    def env(self, role: str) -> dict[str, str]:
        return flower_env(self.run_dir / role / "flwr-home", self.project_root)

    def __enter__(self) -> LocalFederation:
        try:
            self._start_superlink()
        except BaseException:
            self.processes.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.processes.stop()

    def _start_superlink(self) -> None:
        self.security.warn_if_insecure()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.security.insecure:
            hosts = list(dict.fromkeys([self.host, *DEFAULT_HOSTS]))
            self.tls = make_local_tls(self.run_dir / "tls", hosts)
        write_connection(self.cli_home, self.connection, self.address, self.tls.ca_cert if self.tls else None)
        self._superlink = self.processes.start(
            "SuperLink",
            superlink_argv(self.host, self.port, self.security, self.tls),
            env=self.env("superlink"),
            cwd=self.run_dir,
            log_path=self.run_dir / "superlink.log",
        )
        self._wait_for_listener(self._superlink)

    def _wait_for_listener(self, process: StartedProcess) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise FederatedRunError(
                    f"{process.name} exited with code {process.popen.returncode} while starting; its log:\n"
                    + process.log_tail()
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                if probe.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(_POLL_S)
        raise FederatedRunError(
            f"{process.name} did not listen on {self.address} within {self.startup_timeout_s:.0f} s; raise "
            "startup_timeout_s. Its log:\n" + process.log_tail()
        )

    def make_key(self, name: str) -> NodeKey:
        """A new key pair for one SuperNode, under the run's ``keys/`` folder."""
        return make_node_key(self.run_dir / "keys", name)

    def register(self, keys: Sequence[NodeKey], timeout_s: float = 120.0) -> None:
        """Register the public keys with the SuperLink (``flwr supernode register``, one process per key, in
        parallel); raises :class:`FederatedRunError` with the CLI's output if one is refused."""
        started = [
            self.processes.start(
                f"register {key.public_key.name}",
                register_argv(key.public_key, self.connection),
                env=flower_env(self.cli_home, self.project_root),
                cwd=self.run_dir,
                log_path=self.run_dir / "register" / f"{key.public_key.stem}.log",
            )
            for key in keys
        ]
        deadline = time.monotonic() + timeout_s
        for process in started:
            while process.popen.poll() is None:
                if time.monotonic() > deadline:
                    raise FederatedRunError(
                        f"`flwr supernode register` did not finish within {timeout_s:.0f} s; its output:\n"
                        + process.log_tail()
                    )
                time.sleep(_POLL_S)
            if process.popen.returncode != 0:
                raise FederatedRunError(
                    f"{process.name} failed with code {process.popen.returncode}; its output:\n" + process.log_tail()
                )

    def start_supernode(
        self,
        name: str,
        port: int,
        node_config: Mapping[str, int | float | str],
        key: NodeKey | None,
        *,
        max_retries: int | None = None,
    ) -> StartedProcess:
        """Start one SuperNode (ClientAppIo API on ``port``) that trusts the local CA and signs in with ``key``."""
        node = self.processes.start(
            name,
            supernode_argv(
                self.address,
                host=self.host,
                port=port,
                node_config=node_config,
                security=self.security,
                root_certificates=self.tls.ca_cert if self.tls else None,
                private_key=key.private_key if key else None,
                max_retries=max_retries,
            ),
            env=self.env(name.replace(" ", "-").lower()),
            cwd=self.run_dir,
            log_path=self.run_dir / f"{name.replace(' ', '-').lower()}.log",
        )
        self.supernodes.append(node)
        return node
