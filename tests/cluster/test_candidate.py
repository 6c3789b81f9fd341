"""Canary and shadow intent versions without Ray: the sticky share a canary answers, the shadow's comparisons in
the journal (never in an answer), refused candidates, and the commands' checks before they reach a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import ClusterConfig
from cluster.candidate import CANDIDATE_MEMBER, CandidateMode, CandidatePlan, ShadowLog
from cluster.colocated import ColocatedChain
from cluster.errors import RolloutError
from cluster.experiment_definition import assign
from cluster.graph_deployment import GraphService
from cluster.intent_deployment import IntentRunner
from cluster.rollout import RolloutMember, _target, _with_user_config
from cluster.rollout_journal import JOURNAL_NAME
from ensemble.chat import ChatRequest, ReferenceIndex, ReplyService
from ensemble.registry import Registry
from shopmesh.cli import main
from tests.cluster.conftest import publish_tiny_intent
from tests.cluster.test_colocated import REFERENCES
from tests.cluster.test_rollout_units import _publish_nan_intent

TEXTS = ("where is my order?", "please cancel my order", "I want my money back", "track my parcel")


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, str, str]:
    registry = Registry(tmp_path_factory.mktemp("candidate") / "registry")
    return registry, publish_tiny_intent(registry, seed=0), publish_tiny_intent(registry, seed=1)


def _requests(count: int) -> list[tuple[str, str]]:
    return [(TEXTS[i % len(TEXTS)], "serial") for i in range(count)]


def test_a_canary_answers_exactly_the_units_that_hash_into_its_share_every_time(
    versions: tuple[Registry, str, str],
) -> None:
    # Prepare
    registry, live, candidate = versions
    runner = IntentRunner(registry, live)
    outcome = runner.apply_candidate({"candidate": {"mode": "canary", "version": candidate, "percent": 30}})
    units = [f"customer:{i}" for i in range(80)]
    plan = CandidatePlan(CandidateMode.CANARY, candidate, 30)

    # Execute
    first = runner.decide(_requests(len(units)), units)
    again = runner.decide(_requests(len(units)), list(reversed(units)))

    # Assert
    assert outcome is not None and outcome.error is None and outcome.serving == candidate
    assert outcome.member == CANDIDATE_MEMBER
    expected = {u: candidate if assign(plan.name, u, 30) == 1 else live for u in units}
    assert {u: d["version"] for u, d in zip(units, first, strict=True)} == expected
    assert {u: d["version"] for u, d in zip(reversed(units), again, strict=True)} == expected
    assert 0 < sum(v == candidate for v in expected.values()) < len(units)
    assert runner.status()["candidate"]["percent"] == 30 and runner.status()["version"] == live


def test_without_a_unit_a_canary_splits_by_request_id_and_with_neither_the_live_version_answers(
    versions: tuple[Registry, str, str],
) -> None:
    # Prepare
    registry, live, candidate = versions
    runner = IntentRunner(registry, live)
    runner.apply_candidate({"candidate": {"mode": "canary", "version": candidate, "percent": 50}})
    ids = [f"request-{i}" for i in range(40)]
    plan = CandidatePlan(CandidateMode.CANARY, candidate, 50)

    # Execute
    by_id = runner.decide(_requests(len(ids)), None, ids)
    anonymous = runner.decide(_requests(10))

    # Assert
    assert [d["version"] for d in by_id] == [candidate if plan.answers(i) else live for i in ids]
    assert {d["version"] for d in anonymous} == {live}


def test_a_shadow_never_answers_and_every_request_is_compared_in_the_journal(
    versions: tuple[Registry, str, str], tmp_path: Path
) -> None:
    # Prepare
    registry, live, candidate = versions
    journal = tmp_path / JOURNAL_NAME
    runner = IntentRunner(registry, live)
    runner.apply_candidate({"candidate": {"mode": "shadow", "version": candidate, "log": str(journal)}})
    units = [f"session:s{i}" for i in range(12)]
    ids = [f"r{i}" for i in range(12)]

    # Execute
    answers = runner.decide(_requests(12), units, ids)
    runner.flush_shadow()
    rows = ShadowLog(journal).rows(candidate)
    summary = ShadowLog(journal).summary(candidate)

    # Assert
    assert {a["version"] for a in answers} == {live}
    assert [r.request_id for r in rows] == ids and [r.unit for r in rows] == units
    assert {r.live_version for r in rows} == {live} and {r.shadow_version for r in rows} == {candidate}
    assert [r.live_intent for r in rows] == [a["intent"] for a in answers]
    shadow_alone = IntentRunner(registry, candidate).decide(_requests(12))
    assert [r.shadow_intent for r in rows] == [d["intent"] for d in shadow_alone]
    assert summary.compared == 12
    assert summary.agreed == sum(r.live_intent == r.shadow_intent for r in rows)
    assert "12 requests compared" in summary.describe()


def test_the_colocated_chain_answers_each_customer_with_the_version_of_its_canary_bucket(
    versions: tuple[Registry, str, str], graph_dir: Path
) -> None:
    # Prepare
    registry, live, candidate = versions
    runner = IntentRunner(registry, live)
    runner.apply_candidate({"candidate": {"mode": "canary", "version": candidate, "percent": 50}})
    chain = ColocatedChain(
        runner, GraphService.load(graph_dir), ReplyService(None, ReferenceIndex.from_frame(REFERENCES))
    )
    customers = list(range(12000, 12016))
    plan = CandidatePlan(CandidateMode.CANARY, candidate, 50)

    # Execute
    answers = chain.answer_batch(
        [ChatRequest("where is my order?", customer_id=c) for c in customers],
        [f"customer:{c}" for c in customers],
        [f"r{c}" for c in customers],
    )

    # Assert
    expected = [candidate if plan.answers(f"customer:{c}") else live for c in customers]
    assert [a["version"] for a in answers] == expected and len(set(expected)) == 2


def test_a_candidate_that_fails_its_smoke_check_is_not_served_and_the_live_version_keeps_answering(
    versions: tuple[Registry, str, str], tmp_path: Path
) -> None:
    # Prepare
    registry, live, _ = versions
    broken = _publish_nan_intent(registry)
    runner = IntentRunner(registry, live)

    # Execute
    outcome = runner.apply_candidate({"candidate": {"mode": "canary", "version": broken, "percent": 50}})
    answers = runner.decide(_requests(20), [f"customer:{i}" for i in range(20)])

    # Assert
    assert outcome is not None and outcome.serving is None
    assert outcome.error is not None and broken in outcome.error and "confidence" in outcome.error
    assert runner.candidate is None and {a["version"] for a in answers} == {live}


def test_the_live_version_cannot_be_its_own_candidate_and_a_dropped_candidate_is_reported(
    versions: tuple[Registry, str, str],
) -> None:
    # Prepare
    registry, live, candidate = versions
    runner = IntentRunner(registry, live)

    # Execute
    itself = runner.apply_candidate({"candidate": {"mode": "canary", "version": live, "percent": 10}})
    served = runner.apply_candidate({"candidate": {"mode": "canary", "version": candidate, "percent": 10}})
    dropped = runner.apply_candidate({"version": live})
    nothing = runner.apply_candidate({"version": live})

    # Assert
    assert itself is not None and itself.error is not None and "live version already" in itself.error
    assert served is not None and served.error is None
    assert dropped is not None and dropped.serving is None and dropped.error is None
    assert nothing is None and runner.candidate is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"mode": "canary", "version": "v", "percent": 0}, "1..99 percent"),
        ({"mode": "canary", "version": "v", "percent": 100}, "1..99 percent"),
        ({"mode": "canary", "version": "v", "percent": "ten"}, "integer 1..99"),
        ({"mode": "blue-green", "version": "v"}, "not one of"),
        ({"mode": "shadow", "version": "v"}, "journal"),
        ({"mode": "canary", "percent": 10}, "no version"),
        ("canary", "must be a mapping"),
    ],
)
def test_a_malformed_candidate_is_refused_with_what_was_wrong(value: object, words: str) -> None:
    with pytest.raises(RolloutError, match=words):
        CandidatePlan.from_user_config(value)


def test_a_plan_reads_back_from_its_user_config() -> None:
    for plan in (
        CandidatePlan(CandidateMode.CANARY, "v1", 25),
        CandidatePlan(CandidateMode.SHADOW, "v2", log="/state/rollouts.sqlite"),
    ):
        assert CandidatePlan.from_user_config(plan.to_user_config()) == plan
    assert CandidatePlan.from_user_config(None) is None and CandidatePlan.from_user_config({}) is None


def test_a_plain_intent_rollout_takes_the_candidate_out_of_the_user_config(
    versions: tuple[Registry, str, str], tmp_path: Path
) -> None:
    # Prepare
    registry, live, candidate = versions
    config = ClusterConfig(registry_dir=registry.root, graph_dir=tmp_path, state_dir=tmp_path)
    app_config = {
        "deployments": [
            {"name": "EnsembleDeployment", "user_config": {"version": live, "candidate": {"mode": "canary"}}}
        ]
    }

    # Execute
    target = _target(config, RolloutMember.INTENT, candidate)
    changed = _with_user_config(app_config, target, {"id": "r", "journal": "j"})

    # Assert
    user_config = changed["deployments"][0]["user_config"]
    assert user_config["version"] == candidate and "candidate" not in user_config


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["rollout", "graph", "/tmp", "--canary", "10"], "rolls out directly"),
        (["rollout", "intent", "v", "--canary", "0"], "1..99"),
        (["rollout", "intent", "v", "--canary", "150"], "1..99"),
    ],
)
def test_the_rollout_command_refuses_a_canary_it_cannot_serve_before_reaching_a_cluster(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Execute
    code = main(["--home", str(tmp_path), *args, "--address", "http://127.0.0.1:9"])

    # Assert
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
