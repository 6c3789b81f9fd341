"""Progress bars: drawn on a terminal, silent otherwise (so CI logs keep only the plain lines)."""

from __future__ import annotations

import io
import time

import pytest

from shopmesh.progress import Progress, RoundBar, StepBar, ticking


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as a person's stderr does."""

    def isatty(self) -> bool:
        return True


def test_bars_are_silent_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    with StepBar("training", unit="batch") as bar:
        for done in range(1, 4):
            bar(done, 3)
    with RoundBar(2) as rounds:
        rounds("round 1: evaluated: {'accuracy': 0.5}")
    with ticking("building", every_s=0.01):
        time.sleep(0.05)
    # Assert: the federation's line is printed, no bar is drawn anywhere
    captured = capsys.readouterr()
    assert captured.out == "round 1: evaluated: {'accuracy': 0.5}\n"
    assert captured.err == ""


def test_a_step_bar_on_a_terminal_counts_the_reported_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with StepBar("training", unit="batch") as bar:
        for done in range(1, 11):
            bar(done, 10)
    assert "training: 100%" in terminal.getvalue() and "10/10" in terminal.getvalue()


def test_a_step_that_reports_nothing_draws_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with StepBar("fine-tuning"):
        pass
    assert terminal.getvalue() == ""


def test_the_round_bar_follows_the_servers_round_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    said: list[str] = []
    lines = ["[ROUND 1/3]", "round 1: evaluated: {}", "round 2: evaluated: {}", "published intent:v0002"]
    # Execute
    with RoundBar(3, say=said.append) as rounds:
        for line in lines:
            rounds(line)
    # Assert: every line passed on; the bar stopped at 2 of 3 rounds
    assert said == lines
    assert "2/3" in terminal.getvalue() and "3/3" not in terminal.getvalue()


def test_ticking_shows_the_elapsed_time_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with ticking("building the knowledge graph", every_s=0.01):
        time.sleep(0.1)
    assert "building the knowledge graph: 00:00" in terminal.getvalue()


def test_stage_notes_go_to_the_stage_output() -> None:
    out = io.StringIO()
    progress = Progress(total=1, out=out)
    with progress.stage("graph") as stage:
        progress.note("541,909 lines")
        stage.metric = "ok"
    assert "[1/1] graph ..." in out.getvalue()
    assert "      541,909 lines\n" in out.getvalue()
    assert "graph: done in" in out.getvalue() and progress.table().splitlines()[2].startswith("graph")
