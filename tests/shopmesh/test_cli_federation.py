"""``shopmesh federation``: each role's Flower command line, secure by default, and bad input refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from shopmesh.cli import main


def _run(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), "federation", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_certs_and_keygen_make_a_ca_signed_server_certificate_and_a_node_key_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    code, out, _ = _run(tmp_path, capsys, "certs", "--host", "127.0.0.1", "--host", "link.example.com")
    key_code, key_out, _ = _run(tmp_path, capsys, "keygen", "merchant-1")

    # Assert: the server certificate names both hosts and verifies against the CA
    assert code == key_code == 0
    files = json.loads(out)
    ca = x509.load_pem_x509_certificate(Path(files["ca_cert"]).read_bytes())
    server = x509.load_pem_x509_certificate(Path(files["server_cert"]).read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["link.example.com"]
    assert Path(files["server_key"]).stat().st_mode & 0o077 == 0
    key = json.loads(key_out)
    private = load_ssh_private_key(Path(key["private_key"]).read_bytes(), None)
    public = load_ssh_public_key(Path(key["public_key"]).read_bytes())
    assert private.public_key() == public


def test_superlink_runs_with_tls_and_node_auth_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare
    _run(tmp_path, capsys, "certs")

    # Execute
    code, out, err = _run(tmp_path, capsys, "superlink", "--host", "0.0.0.0", "--dry-run")

    # Assert
    argv = json.loads(out)
    assert code == 0 and err == ""
    assert argv[0].endswith("flower-superlink") and "--insecure" not in argv
    assert argv[argv.index("--ssl-ca-certfile") + 1] == str(tmp_path / "federation" / "tls" / "ca.crt")
    assert {"--ssl-certfile", "--ssl-keyfile", "--enable-supernode-auth", "--database"} <= set(argv)
    assert argv[argv.index("--port") + 1] == "9091"


def test_insecure_is_only_on_request_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    code, out, err = _run(tmp_path, capsys, "superlink", "--insecure", "--dry-run")

    # Assert
    argv = json.loads(out)
    assert code == 0
    assert "--insecure" in argv and "--enable-supernode-auth" not in argv and "--ssl-certfile" not in argv
    assert "WITHOUT TLS" in err


def test_supernode_with_its_own_data_file_trusts_the_ca_and_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    _run(tmp_path, capsys, "certs")
    _run(tmp_path, capsys, "keygen", "m1")
    data = tmp_path / "chats.csv"
    data.write_text("instruction,intent\n", encoding="utf-8")
    key = tmp_path / "federation" / "keys" / "m1"

    # Execute
    code, out, _ = _run(
        tmp_path,
        capsys,
        "supernode",
        "--superlink",
        "link:9091",
        "--key",
        str(key),
        "--data-path",
        str(data),
        "--dry-run",
    )

    # Assert
    argv = json.loads(out)
    assert code == 0
    assert argv[argv.index("--auth-supernode-private-key") + 1] == str(key)
    assert argv[argv.index("--root-certificates") + 1] == str(tmp_path / "federation" / "tls" / "ca.crt")
    assert argv[argv.index("--superlink") + 1] == "link:9091"
    assert f'data-path="{data.resolve()}"' in argv[argv.index("--node-config") + 1]


def test_run_checks_the_run_config_and_writes_a_tls_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    _run(tmp_path, capsys, "certs")

    # Execute
    code, out, _ = _run(
        tmp_path,
        capsys,
        "run",
        "--superlink",
        "link:9091",
        "--set",
        'strategy="fedprox"',
        "--set",
        "proximal-mu=0.1",
        "--dry-run",
    )

    # Assert: flwr run with a run-config file and a connection that trusts the CA, not an insecure one
    argv = json.loads(out)
    assert code == 0 and argv[1:2] == ["run"] and "--stream" in argv
    run_config = Path(argv[argv.index("--run-config") + 1]).read_text(encoding="utf-8")
    assert run_config.startswith('strategy = "fedprox"\nproximal-mu = 0.1\ndata-path = "/')
    connection = (tmp_path / "federation" / "flwr-home" / "config.toml").read_text(encoding="utf-8")
    assert 'address = "link:9091"' in connection and "root-certificates" in connection
    assert "insecure" not in connection


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--superlink", "l:1", "--set", 'strategy="fedsgd"', "--dry-run"], "'strategy' = 'fedsgd' is not one"),
        (["run", "--superlink", "l:1", "--set", "rounds", "--insecure", "--dry-run"], "must be KEY=VALUE"),
        (["supernode", "--superlink", "l:1", "--partition-id", "0", "--num-partitions", "2"], "the CA certificate"),
        (["supernode", "--superlink", "l:1", "--insecure", "--dry-run"], "give --data-path FILE"),
        (["superlink", "--dry-run"], "the SuperLink TLS CA certificate"),
        (["register", "nope.pub", "--superlink", "l:1", "--insecure"], "needs TLS"),
    ],
)
def test_bad_input_is_one_line_naming_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    # Execute
    code, _, err = _run(tmp_path, capsys, *args)

    # Assert
    assert code == 2
    assert message in err and "Traceback" not in err
