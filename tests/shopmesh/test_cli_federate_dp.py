"""``shopmesh federate --dp ...`` refuses unsound or out-of-range privacy settings before any round starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopmesh.cli import main


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dp", "server-fixed", "--strategy", "krum", "--nodes", "5"], "cannot be combined with strategy='krum'"),
        (["--dp", "client-fixed", "--dp-delta", "0.5"], r"'dp-delta' = 0.5 is outside"),
        (["--dp", "server-fixed", "--dp-noise-multiplier", "0"], "adds no noise"),
    ],
)
def test_bad_privacy_settings_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    code = main(["--home", str(tmp_path / "home"), "federate", *options])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and message in err
    assert not (tmp_path / "home" / "federation").exists()  # nothing started
