"""The command lines of Flower's processes, one per role, shared by the local runner and ``shopmesh federation``.

- the platform runs the SuperLink (:func:`superlink_argv`): TLS with a CA, certificate and key, and SuperNode
  authentication (only registered public keys may connect) unless asked to be insecure;
- the operator registers each merchant's public key (:func:`register_argv`) and submits runs
  (:func:`run_argv`); the ``flwr`` CLI finds the SuperLink through ``$FLWR_HOME/config.toml``
  (:func:`write_connection`), which names the CA to trust;
- each merchant runs a SuperNode (:func:`supernode_argv`) next to its data and registry copy, trusting the CA
  and signing in with its private key.

Flower 1.42 serves the Fleet, Control and ServerAppIo APIs on the SuperLink's one ``--port``; node
authentication needs TLS, so insecure mode has neither.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from federation.certificates import TlsFiles
from federation.errors import FederatedRunError, FederationConfigError

__all__ = [
    "SecurityMode",
    "executable",
    "flower_env",
    "node_config_arg",
    "register_argv",
    "run_argv",
    "superlink_argv",
    "supernode_argv",
    "toml_value",
    "write_connection",
]

logger = logging.getLogger(__name__)

INSECURE_WARNING = (
    "running Flower WITHOUT TLS and without SuperNode authentication (--insecure): traffic is readable and any "
    "process that reaches the port can join; use this only on a trusted local machine"
)


@dataclass(frozen=True)
class SecurityMode:
    """TLS and node authentication of a deployment; ``insecure`` turns both off."""

    insecure: bool = False
    node_auth: bool = True

    @property
    def authenticates_nodes(self) -> bool:
        """Whether only registered SuperNodes may connect (Flower authenticates nodes only over TLS)."""
        return self.node_auth and not self.insecure

    def warn_if_insecure(self) -> None:
        if self.insecure:
            logger.warning(INSECURE_WARNING)


def toml_value(value: bool | int | float | str) -> str:
    """One TOML value: strings quoted (a JSON string is a valid TOML basic string), booleans as ``true`` /
    ``false``, numbers as written."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):  # before the numbers: a bool is an int, and TOML spells it in lower case
        return "true" if value else "false"
    return repr(value)


def node_config_arg(values: Mapping[str, int | float | str]) -> str:
    """The ``--node-config`` argument: space-separated ``key=value`` pairs with TOML values."""
    for key, value in values.items():
        if isinstance(value, str) and ('"' in value or " " in value):
            raise FederationConfigError(
                f"node config {key}={value!r} contains a quote or a space, which --node-config cannot carry; "
                "use a path without quotes or spaces"
            )
    return " ".join(f"{key}={toml_value(value)}" for key, value in values.items())


def executable(name: str) -> str:
    """The path of a Flower command installed beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FederatedRunError(
            f"the Flower command {name!r} is not installed next to {sys.executable} nor on PATH; "
            "install flwr[simulation]==1.42.0 into this environment"
        )
    return found


def flower_env(flwr_home: Path, project_root: Path | None = None) -> dict[str, str]:
    """The environment of a Flower process: its own ``FLWR_HOME``, telemetry off, offline model hub."""
    env = dict(os.environ)
    # SuperExec starts flwr-serverapp / flwr-clientapp by name, so the interpreter's scripts must be on PATH.
    scripts = str(Path(sys.executable).parent)
    env.update(
        {
            "FLWR_HOME": str(flwr_home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "PATH": os.pathsep.join([scripts, env.get("PATH", "")]),
        }
    )
    if project_root is not None:
        pythonpath = [str(project_root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


def write_connection(flwr_home: Path, connection: str, address: str, root_certificates: Path | None) -> Path:
    """Write ``$FLWR_HOME/config.toml`` naming one SuperLink connection (TLS trusting ``root_certificates``, or
    insecure when it is ``None``); returns the file's path."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    security = (
        "insecure = true\n"
        if root_certificates is None
        else f"root-certificates = {toml_value(str(root_certificates.resolve()))}\n"
    )
    path = flwr_home / "config.toml"
    path.write_text(
        f'[superlink]\ndefault = "{connection}"\n\n[superlink.{connection}]\naddress = "{address}"\n{security}',
        encoding="utf-8",
    )
    return path


def superlink_argv(
    host: str, port: int, security: SecurityMode, tls: TlsFiles | None, database: Path | None = None
) -> list[str]:
    """``flower-superlink`` serving on ``host:port``; with TLS files unless insecure, node auth when asked."""
    argv = [executable("flower-superlink")]
    if security.insecure:
        argv.append("--insecure")
    else:
        if tls is None:
            raise FederationConfigError(
                "a secure SuperLink needs a CA certificate, a certificate and a key; make local ones with "
                "`shopmesh federation certs` or pass --insecure for a trusted local machine"
            )
        tls.check()
        argv += ["--ssl-ca-certfile", str(tls.ca_cert), "--ssl-certfile", str(tls.server_cert)]
        argv += ["--ssl-keyfile", str(tls.server_key)]
        if security.authenticates_nodes:
            argv.append("--enable-supernode-auth")
    if database is not None:
        argv += ["--database", str(database)]
    return [*argv, "--host", host, "--port", str(port), "--disable-runtime-dependency-installation"]


def supernode_argv(
    superlink: str,
    *,
    host: str,
    port: int,
    node_config: Mapping[str, int | float | str],
    security: SecurityMode,
    root_certificates: Path | None,
    private_key: Path | None,
    max_retries: int | None = None,
) -> list[str]:
    """``flower-supernode`` joining ``superlink`` (``HOST:PORT``) with its ClientAppIo API on ``host:port``."""
    argv = [executable("flower-supernode")]
    if security.insecure:
        argv.append("--insecure")
    else:
        if root_certificates is None or not root_certificates.is_file():
            raise FederationConfigError(
                f"a SuperNode over TLS needs the CA certificate that signed the SuperLink's (got {root_certificates}); "
                "pass --root-certificates CA.crt or --insecure"
            )
        argv += ["--root-certificates", str(root_certificates)]
        if security.authenticates_nodes:
            if private_key is None or not private_key.is_file():
                raise FederationConfigError(
                    f"SuperNode authentication needs this node's private key (got {private_key}); make one with "
                    "`shopmesh federation keygen NAME` and register its .pub file with the SuperLink"
                )
            argv += ["--auth-supernode-private-key", str(private_key)]
    if max_retries is not None:
        argv += ["--max-retries", str(max_retries)]
    argv += ["--superlink", superlink, "--host", host, "--port", str(port)]
    if node_config:
        argv += ["--node-config", node_config_arg(node_config)]
    return argv


def register_argv(public_key: Path, connection: str) -> list[str]:
    """``flwr supernode register``: allow the SuperNode holding the matching private key to connect."""
    if not public_key.is_file():
        raise FederationConfigError(f"public key {public_key} does not exist; give the .pub file of a node key")
    return [executable("flwr"), "supernode", "register", str(public_key), connection]


def run_argv(app_dir: Path, connection: str, run_config: Path | str | None) -> list[str]:
    """``flwr run`` of the app in ``app_dir`` on ``connection``, streaming its log."""
    argv = [executable("flwr"), "run", str(app_dir), connection, "--stream"]
    if run_config:
        argv += ["--run-config", str(run_config)]
    return argv
