"""``shopmesh federate --secure-aggregation`` refuses the strategies and DP modes SecAgg+ cannot serve, and unsound
protocol parameters, before any round starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopmesh.cli import main


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--strategy", "krum", "--nodes", "5"], "cannot be combined with strategy='krum'"),
        (["--strategy", "trimmed-mean"], "cannot be combined with strategy='trimmed-mean'"),
        (["--strategy", "bulyan", "--nodes", "7"], "cannot be combined with strategy='bulyan'"),
        (["--strategy", "fedadam"], "cannot be combined with strategy='fedadam'"),
        (["--dp", "server-fixed"], "secure-aggregation=true cannot be combined with dp='server-fixed'"),
        (["--dp", "client-adaptive", "--dp-clipped-count-stddev", "1"], "cannot be combined with dp='client-adaptive'"),
        (["--num-shares", "3", "--reconstruction-threshold", "3"], "must be below 'num-shares' = 3"),
        (["--num-shares", "5", "--reconstruction-threshold", "4", "--nodes", "3"], "needs at least max(2, threshold)"),
        (["--num-shares", "2", "--reconstruction-threshold", "1"], r"'num-shares' = 2 is outside"),
        (["--clipping-range", "0"], r"'clipping-range' = 0.0 is outside"),
    ],
)
def test_settings_secure_aggregation_cannot_serve_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    code = main(["--home", str(tmp_path / "home"), "federate", "--secure-aggregation", *options])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and message in err
    assert not (tmp_path / "home" / "federation").exists()  # nothing started


def test_the_help_says_what_secure_aggregation_protects_and_what_it_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["federate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "server learns only their example-weighted sum" in text
    assert "robust strategies need the individual updates" in text
