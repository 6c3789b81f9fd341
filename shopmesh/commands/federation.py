"""``shopmesh federation``: one command per role of a real Flower deployment (Flower 1.42).

- ``certs`` / ``keygen``: a local CA with a SuperLink certificate, and one key pair per merchant;
- ``superlink`` (the platform): ``flower-superlink`` with TLS and SuperNode authentication;
- ``register`` (the operator): ``flwr supernode register`` of a merchant's public key;
- ``supernode`` (each merchant): ``flower-supernode`` next to its data file and registry copy;
- ``run`` (the operator): ``flwr run`` of the shopmesh app with a checked run config.

Each is a thin wrapper: it builds the Flower command line (:mod:`federation.flower_cli`), prints it with
``--dry-run``, or runs it in the foreground and returns its exit status. ``--insecure`` turns TLS and
authentication off, with a warning.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ensemble.datasets import default_bitext_path
from federation import parse_run_config
from federation.certificates import DEFAULT_HOSTS, TlsFiles, make_local_tls, make_node_key
from federation.flower_cli import (
    INSECURE_WARNING,
    SecurityMode,
    flower_env,
    register_argv,
    run_argv,
    superlink_argv,
    supernode_argv,
    toml_value,
    write_connection,
)
from shopmesh.errors import CommandError

CONNECTION = "shopmesh"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _tls_dir(args: argparse.Namespace) -> Path:
    return Path(args.workspace.federation) / "tls"


def _add_security(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure", action="store_true", help="no TLS and no SuperNode authentication (trusted local machine only)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the Flower command line instead of running it")


def _add_client_tls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--superlink", required=True, help="the SuperLink's HOST:PORT")
    parser.add_argument(
        "--root-certificates",
        type=Path,
        default=None,
        help="the CA certificate that signed the SuperLink's (default: WORKSPACE/federation/tls/ca.crt)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("federation", help="run one role of a Flower deployment: SuperLink, SuperNode, run")
    group = parser.add_subparsers(dest="federation_command", required=True, metavar="ROLE")

    certs = group.add_parser("certs", help="make a local CA and a SuperLink certificate")
    certs.add_argument("--out", type=Path, default=None, help="directory (default: WORKSPACE/federation/tls)")
    certs.add_argument(
        "--host",
        action="append",
        default=None,
        help="a name or address the SuperNodes use to reach the SuperLink; repeat (default: 127.0.0.1, localhost)",
    )
    certs.set_defaults(handler=run_certs)

    keygen = group.add_parser("keygen", help="make a SuperNode's key pair (register NAME.pub with the SuperLink)")
    keygen.add_argument("name", help="file name of the key, e.g. merchant-1")
    keygen.add_argument("--out", type=Path, default=None, help="directory (default: WORKSPACE/federation/keys)")
    keygen.set_defaults(handler=run_keygen)

    link = group.add_parser("superlink", help="the platform's flower-superlink (TLS and node authentication)")
    link.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for other machines)")
    link.add_argument("--port", type=int, default=9091, help="the Fleet, Control and ServerAppIo port")
    link.add_argument("--certs", type=Path, default=None, help="directory with ca.crt, server.pem, server.key")
    link.add_argument("--ssl-ca-certfile", type=Path, default=None, help="CA certificate (overrides --certs)")
    link.add_argument("--ssl-certfile", type=Path, default=None, help="server certificate (overrides --certs)")
    link.add_argument("--ssl-keyfile", type=Path, default=None, help="server key (overrides --certs)")
    link.add_argument("--database", type=Path, default=None, help="SuperLink state, so registrations survive a restart")
    link.add_argument("--no-node-auth", action="store_true", help="let any SuperNode with the CA connect")
    _add_security(link)
    link.set_defaults(handler=run_superlink)

    reg = group.add_parser("register", help="allow a SuperNode's public key (flwr supernode register)")
    reg.add_argument("public_key", type=Path, help="the .pub file made by `keygen`")
    _add_client_tls(reg)
    _add_security(reg)
    reg.set_defaults(handler=run_register)

    node = group.add_parser("supernode", help="a merchant's flower-supernode next to its data")
    _add_client_tls(node)
    node.add_argument("--key", type=Path, default=None, help="this node's private key (made by `keygen`)")
    node.add_argument(
        "--data-path", type=Path, default=None, help="this merchant's CSV, used whole unless --partition-id is given"
    )
    node.add_argument("--partition-id", type=int, default=None, help="train on this partition of the data")
    node.add_argument("--num-partitions", type=int, default=None, help="the number of partitions (nodes)")
    node.add_argument("--registry-dir", type=Path, default=None, help="registry copy (default: the workspace's)")
    node.add_argument(
        "--dp-max-epsilon",
        type=float,
        default=None,
        help="this merchant's privacy budget in DP runs: it is left out of rounds that would take it past this epsilon",
    )
    node.add_argument("--host", default="127.0.0.1", help="address of this node's ClientAppIo API")
    node.add_argument("--port", type=int, default=9094, help="port of this node's ClientAppIo API")
    _add_security(node)
    node.set_defaults(handler=run_supernode)

    run = group.add_parser("run", help="submit the shopmesh app to the SuperLink (flwr run --stream)")
    _add_client_tls(run)
    run.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='a run-config value in TOML, e.g. --set strategy="fedprox" --set num-server-rounds=3; repeat',
    )
    run.add_argument("--app-dir", type=Path, default=PROJECT_ROOT, help="the Flower app (the shopmesh project root)")
    _add_security(run)
    run.set_defaults(handler=run_submit)


def _security(args: argparse.Namespace, node_auth: bool = True) -> SecurityMode:
    security = SecurityMode(insecure=args.insecure, node_auth=node_auth)
    if security.insecure:
        print(f"warning: {INSECURE_WARNING}", file=sys.stderr)
    return security


def _execute(argv: list[str], args: argparse.Namespace, flwr_home: Path, cwd: Path | None = None) -> int:
    if args.dry_run:
        print(json.dumps(argv))
        return 0
    return subprocess.run(argv, env=flower_env(flwr_home), cwd=cwd, check=False).returncode


def _root_certificates(args: argparse.Namespace, security: SecurityMode) -> Path | None:
    if security.insecure:
        return None
    path: Path = args.root_certificates or _tls_dir(args) / "ca.crt"
    if not path.is_file():
        raise CommandError(
            f"the CA certificate {path} does not exist; pass --root-certificates with the CA that signed the "
            "SuperLink's certificate (made by `shopmesh federation certs`), or --insecure"
        )
    return path


def _cli_home(args: argparse.Namespace, security: SecurityMode) -> Path:
    """The ``flwr`` CLI's FLWR_HOME in the workspace, with a connection to ``--superlink``."""
    home = Path(args.workspace.federation) / "flwr-home"
    write_connection(home, CONNECTION, args.superlink, _root_certificates(args, security))
    return home


def run_certs(args: argparse.Namespace) -> int:
    files = make_local_tls(args.out or _tls_dir(args), args.host or DEFAULT_HOSTS)
    print(json.dumps({k: str(v) for k, v in vars(files).items()}, indent=2))
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    key = make_node_key(args.out or Path(args.workspace.federation) / "keys", args.name)
    print(json.dumps({k: str(v) for k, v in vars(key).items()}, indent=2))
    return 0


def run_superlink(args: argparse.Namespace) -> int:
    security = _security(args, node_auth=not args.no_node_auth)
    certs = args.certs or _tls_dir(args)
    tls = TlsFiles(
        args.ssl_ca_certfile or certs / "ca.crt",
        args.ssl_certfile or certs / "server.pem",
        args.ssl_keyfile or certs / "server.key",
    )
    database = args.database or Path(args.workspace.federation) / "superlink.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    argv = superlink_argv(args.host, args.port, security, None if security.insecure else tls, database)
    return _execute(argv, args, Path(args.workspace.federation) / "superlink-home")


def run_register(args: argparse.Namespace) -> int:
    security = _security(args)
    if security.insecure:
        raise CommandError(
            "SuperNode registration needs TLS (Flower authenticates nodes only over TLS); drop --insecure"
        )
    return _execute(register_argv(args.public_key, CONNECTION), args, _cli_home(args, security))


def run_supernode(args: argparse.Namespace) -> int:
    security = _security(args)
    # The ClientApp runs from the unpacked app bundle, which holds no data: the data path is always absolute.
    data_path = args.data_path or default_bitext_path()
    if not data_path.is_file():
        raise CommandError(f"--data-path {data_path} does not exist; give this merchant's CSV file")
    node_config: dict[str, int | float | str] = {
        "registry-dir": str((args.registry_dir or Path(args.workspace.registry)).resolve()),
        "data-path": str(data_path.resolve()),
    }
    if args.dp_max_epsilon is not None:
        if not args.dp_max_epsilon >= 0:
            raise CommandError(f"--dp-max-epsilon {args.dp_max_epsilon} must be a non-negative epsilon, e.g. 4.0")
        node_config["dp-max-epsilon"] = args.dp_max_epsilon
    if (args.partition_id is None) != (args.num_partitions is None):
        raise CommandError("give both --partition-id N and --num-partitions M, or neither")
    if args.partition_id is not None:
        node_config.update({"partition-id": args.partition_id, "num-partitions": args.num_partitions})
    elif args.data_path is None:
        raise CommandError("give --data-path FILE (this merchant's own data) or --partition-id N --num-partitions M")
    argv = supernode_argv(
        args.superlink,
        host=args.host,
        port=args.port,
        node_config=node_config,
        security=security,
        root_certificates=_root_certificates(args, security),
        private_key=args.key,
    )
    return _execute(argv, args, Path(args.workspace.federation) / f"supernode-{args.port}-home")


def _run_config(settings: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set {setting!r} must be KEY=VALUE, e.g. --set num-server-rounds=3")
        try:
            values[key.strip()] = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError as err:
            raise CommandError(f'--set {setting!r}: {raw!r} is not a TOML value; quote strings: {key}="text"') from err
    parse_run_config(values)  # refuse unknown keys and bad values before anything is submitted
    # The ServerApp validates the aggregate on the data path; the app bundle holds no data, so make it absolute.
    values.setdefault("data-path", str(default_bitext_path()))
    return values


def run_submit(args: argparse.Namespace) -> int:
    security = _security(args)
    values = _run_config(args.settings)
    home = _cli_home(args, security)
    config_file = home / "run-config.toml"
    config_file.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in values.items()), "utf-8")
    return _execute(run_argv(args.app_dir.resolve(), CONNECTION, config_file), args, home, cwd=args.app_dir)
