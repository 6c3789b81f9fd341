"""Differential privacy: the DP mode builds Flower's wrapper around the configured strategy, the noise it adds
has the calibrated scale, the ledger's epsilon agrees with the exact Gaussian mechanism, and a merchant whose
budget would be exceeded is left out of the round."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.app.message_type import MessageType
from flwr.serverapp import Grid
from flwr.serverapp import strategy as flower
from flwr.supercore.task_identity import TaskIdentity
from scipy.optimize import brentq
from scipy.stats import norm

from federation import FederationConfig, FederationConfigError
from federation.client_app import dp_clipping_mod, query
from federation.config import DPMode, StrategyName
from federation.privacy import PrivacyLedger, RoundRelease
from federation.strategies import UNIT_WEIGHT, build_strategy


@pytest.fixture(autouse=True)
def task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Message outside a Flower runtime needs the identity a runtime would set."""
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)


def exact_gaussian_epsilon(mu: float, delta: float) -> float:
    """The tight epsilon of a Gaussian mechanism with sensitivity / std = ``mu`` at ``delta`` (Balle & Wang 2018,
    Theorem 8); ``T`` releases at noise multiplier ``sigma`` compose to ``mu = sqrt(T) / sigma`` exactly."""

    def delta_at(eps: float) -> float:
        return float(norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2))

    return float(brentq(lambda eps: delta_at(eps) - delta, 0.0, 500.0))


@pytest.mark.parametrize(("sigma", "rounds"), [(1.0, 1), (2.0, 10), (5.0, 50)])
def test_ledger_epsilon_is_a_sound_and_close_bound_of_the_exact_gaussian_mechanism(sigma: float, rounds: int) -> None:
    # Prepare: every merchant takes part in every round (no sampling amplification)
    ledger = PrivacyLedger(delta=1e-5)

    # Execute
    for r in range(1, rounds + 1):
        ledger.record_release(RoundRelease(r, sigma, 1.0, 1.0), eligible=[7], participants=[7])

    # Assert: RDP never reports less than the exact epsilon, and is within 25 % of it here
    exact = exact_gaussian_epsilon(math.sqrt(rounds) / sigma, 1e-5)
    assert exact <= ledger.accounts[7].epsilon <= 1.25 * exact


def test_sampling_amplifies_privacy_and_every_eligible_merchant_is_charged() -> None:
    # Prepare: node 1 is drawn in both rounds, node 2 only in round 2; both were eligible in both
    sampled = PrivacyLedger(delta=1e-5)
    full = PrivacyLedger(delta=1e-5)

    # Execute
    sampled.record_release(RoundRelease(1, 1.0, 0.5, 0.1), eligible=[1, 2], participants=[1])
    sampled.record_release(RoundRelease(2, 1.0, 0.5, 0.1), eligible=[1, 2], participants=[1, 2])
    full.record_release(RoundRelease(1, 1.0, 0.5, 1.0), eligible=[1], participants=[1])
    full.record_release(RoundRelease(2, 1.0, 0.5, 1.0), eligible=[1], participants=[1])

    # Assert
    one, two = sampled.accounts[1], sampled.accounts[2]
    assert one.participated == [1, 2] and two.participated == [2]
    assert one.epsilon == two.epsilon > 0  # not being drawn is what the amplification counts on
    assert one.epsilon < full.accounts[1].epsilon / 2
    entry = sampled.to_dict()["merchants"]["2"]
    assert entry["rounds"] == [2] and entry["rounds_eligible"] == [1, 2]
    assert entry["noise_multiplier"] == [1.0] and entry["clipping_norm"] == [0.5, 0.5]
    assert entry["sample_rate"] == [0.1, 0.1] and entry["delta"] == 1e-5


def test_a_round_that_releases_nothing_costs_nothing() -> None:
    guard = build_strategy(FederationConfig(dp=DPMode.SERVER_FIXED)).privacy
    assert guard is not None
    guard.ledger.set_budget(1, 3.0)
    assert guard.after_train(1, [1], released=False) == {}
    assert guard.ledger.accounts[1].releases == [] and guard.ledger.accounts[1].epsilon == 0.0


@pytest.mark.parametrize(
    ("mode", "wrapper"),
    [
        (DPMode.SERVER_FIXED, flower.DifferentialPrivacyServerSideFixedClipping),
        (DPMode.CLIENT_FIXED, flower.DifferentialPrivacyClientSideFixedClipping),
        (DPMode.SERVER_ADAPTIVE, flower.DifferentialPrivacyServerSideAdaptiveClipping),
        (DPMode.CLIENT_ADAPTIVE, flower.DifferentialPrivacyClientSideAdaptiveClipping),
    ],
)
@pytest.mark.parametrize("name", [StrategyName.FEDAVG, StrategyName.FEDPROX])
def test_each_dp_mode_wraps_the_configured_strategy_in_flowers_wrapper(
    mode: DPMode, wrapper: type, name: StrategyName
) -> None:
    # Execute
    config = FederationConfig(strategy=name, dp=mode, dp_noise_multiplier=0.5, dp_clipped_count_stddev=1.0)
    strategy = build_strategy(config)

    # Assert
    assert type(strategy.inner) is wrapper
    assert type(strategy.aggregator).__name__ == {"fedavg": "FedAvg", "fedprox": "FedProx"}[name.value]
    assert strategy.aggregator.weighted_by_key == UNIT_WEIGHT  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"strategy": StrategyName.KRUM, "min_nodes": 3}, "selects or trims updates"),
        ({"strategy": StrategyName.TRIMMED_MEAN}, "selects or trims updates"),
        ({"strategy": StrategyName.FEDADAM}, "applies a server optimiser"),
        ({"dp_noise_multiplier": 0.0}, "adds no noise"),
    ],
)
def test_unsound_dp_combinations_are_refused_with_the_reason(settings: dict[str, object], message: str) -> None:
    with pytest.raises(FederationConfigError, match=message):
        FederationConfig(dp=DPMode.SERVER_FIXED, **settings)  # type: ignore[arg-type]


def test_adaptive_clipping_with_too_little_count_noise_is_refused_before_flower_would() -> None:
    with pytest.raises(FederationConfigError, match=r"dp-clipped-count-stddev above 0.5 .*Flower.s default"):
        FederationConfig(dp=DPMode.SERVER_ADAPTIVE, dp_noise_multiplier=1.0, min_nodes=3)


def _train_reply(node_id: int, values: np.ndarray) -> Message:
    instruction = Message(RecordDict(), dst_node_id=node_id, message_type="train")
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(values.astype(np.float32))}),
            "metrics": MetricRecord({"train-loss": 1.0, "num-examples": 10 * node_id, UNIT_WEIGHT: 1}),
        }
    )
    return Message(content, reply_to=instruction)


class _Nodes(Grid):
    """Connected nodes with their node configs; queries are answered by the real ClientApp query handler."""

    def __init__(self, node_configs: dict[int, dict[str, float]]) -> None:
        self.node_configs = node_configs

    def set_run(self, run: object) -> None:  # type: ignore[override]
        raise NotImplementedError

    @property
    def run(self) -> object:  # type: ignore[override]
        raise NotImplementedError

    def create_message(self, *args: object, **kwargs: object) -> Message:  # type: ignore[override]
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return list(self.node_configs)

    def get_nodes(self) -> Iterable[object]:  # type: ignore[override]
        raise NotImplementedError

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = []
        for message in messages:
            assert message.metadata.message_type == MessageType.QUERY
            node = message.metadata.dst_node_id
            context = Context(
                run_id=1, node_id=node, node_config=dict(self.node_configs[node]), state=RecordDict(), run_config={}
            )
            reply = query(message, context)
            replies.append(reply)
        return replies


def test_server_side_noise_has_std_sigma_times_clip_over_the_sampled_nodes() -> None:
    # Prepare: two nodes whose updates (norm 10 and 2) are clipped to 1, then averaged with equal weights
    sigma, clip, size = 0.8, 1.0, 20_000
    config = FederationConfig(dp=DPMode.SERVER_FIXED, dp_noise_multiplier=sigma, dp_clipping_norm=clip, min_nodes=2)
    strategy = build_strategy(config)
    grid = _Nodes({11: {}, 12: {}})
    start = np.zeros(size, dtype=np.float32)
    rng = np.random.default_rng(0)
    updates = [rng.normal(size=size), rng.normal(size=size)]
    updates = [10 * updates[0] / np.linalg.norm(updates[0]), 2 * updates[1] / np.linalg.norm(updates[1])]
    messages = list(strategy.configure_train(1, ArrayRecord({"w": Array(start)}), ConfigRecord(), grid))

    # Execute
    arrays, _ = strategy.aggregate_train(1, [_train_reply(11, updates[0]), _train_reply(12, updates[1])])

    # Assert: the aggregate is the clipped mean plus Gaussian noise of std sigma x C / 2
    assert len(messages) == 2
    assert arrays is not None
    noiseless = np.mean([u / np.linalg.norm(u) * clip for u in updates], axis=0)
    noise = arrays["w"].numpy() - noiseless
    assert abs(float(noise.mean())) < 0.02
    assert float(noise.std()) == pytest.approx(sigma * clip / 2, rel=0.03)
    record = strategy.rounds[1]
    assert set(record.epsilon) == {11, 12} and record.epsilon[11] > 0


def test_a_merchant_is_left_out_once_its_own_budget_would_be_exceeded() -> None:
    # Prepare: budgets that allow node 1 one round; node 3 sets none; node 2 takes the run's default (none)
    one_round = PrivacyLedger(1e-5).epsilon_after(1, 2.0, 1.0)
    two_rounds = PrivacyLedger(1e-5)
    two_rounds.record_release(RoundRelease(1, 2.0, 1.0, 1.0), [1], [1])
    budget = (one_round + two_rounds.epsilon_after(1, 2.0, 1.0)) / 2
    config = FederationConfig(dp=DPMode.SERVER_FIXED, dp_noise_multiplier=2.0, min_nodes=2)
    strategy = build_strategy(config)
    grid = _Nodes({1: {"dp-max-epsilon": budget}, 2: {}, 3: {"dp-max-epsilon": 0.0}})
    arrays = ArrayRecord({"w": Array(np.zeros(4, dtype=np.float32))})
    rng = np.random.default_rng(1)

    # Execute: two rounds
    sent = []
    for server_round in (1, 2):
        messages = list(strategy.configure_train(server_round, arrays, ConfigRecord(), grid))
        sent.append(sorted(m.metadata.dst_node_id for m in messages))
        replies = [_train_reply(m.metadata.dst_node_id, rng.normal(size=4) * 0.1) for m in messages]
        strategy.aggregate_train(server_round, replies)

    # Assert
    assert sent == [[1, 2, 3], [2, 3]]
    assert strategy.inner.num_sampled_clients == 2  # type: ignore[attr-defined]  # the noise divides by 2 now
    assert strategy.rounds[1].excluded == {}
    assert "privacy budget" in strategy.rounds[2].excluded[1] and f"{budget:g}" in strategy.rounds[2].excluded[1]
    ledger = strategy.privacy.ledger.to_dict()["merchants"]  # type: ignore[union-attr]
    assert ledger["1"]["rounds"] == [1] and ledger["1"]["epsilon"] == pytest.approx(one_round)
    assert ledger["1"]["epsilon"] <= ledger["1"]["max_epsilon"] == pytest.approx(budget)
    assert ledger["2"]["rounds"] == [1, 2] and ledger["2"]["max_epsilon"] is None
    assert set(ledger["1"]["excluded"]) == {"2"}


def test_a_round_with_too_few_merchants_left_is_skipped_and_says_why() -> None:
    # Prepare: min-nodes 2, and node 1 cannot afford even one round
    config = FederationConfig(dp=DPMode.SERVER_FIXED, dp_noise_multiplier=1.0, min_nodes=2)
    strategy = build_strategy(config)
    grid = _Nodes({1: {"dp-max-epsilon": 0.01}, 2: {}})

    # Execute
    messages = list(strategy.configure_train(1, ArrayRecord(), ConfigRecord(), grid))
    outcome = strategy.aggregate_train(1, [])

    # Assert
    assert messages == [] and outcome == (None, None)
    assert "fewer than min-nodes" in strategy.rounds[1].skipped
    assert set(strategy.rounds[1].excluded) == {1}
    assert strategy.rounds[1].to_dict()["excluded"]["1"].startswith("privacy budget")


def test_a_node_whose_budget_is_not_a_number_is_left_out_with_the_reason() -> None:
    # Prepare: node 2's operator wrote a word where the epsilon goes
    strategy = build_strategy(FederationConfig(dp=DPMode.SERVER_FIXED, min_nodes=2))
    grid = _Nodes({1: {}, 2: {"dp-max-epsilon": "plenty"}, 3: {}})  # type: ignore[dict-item]

    # Execute
    messages = list(strategy.configure_train(1, ArrayRecord(), ConfigRecord(), grid))

    # Assert
    assert sorted(m.metadata.dst_node_id for m in messages) == [1, 3]
    reason = strategy.rounds[1].excluded[2]
    assert set(strategy.rounds[1].excluded) == {2}
    assert reason.startswith("did not report its privacy budget: node 2 could not report its privacy budget")
    assert "dp-max-epsilon='plenty' is not a number" in reason


@pytest.mark.parametrize("mode", [DPMode.CLIENT_FIXED, DPMode.CLIENT_ADAPTIVE, DPMode.SERVER_FIXED])
def test_the_client_mod_clips_the_update_under_the_client_side_modes_only(mode: DPMode) -> None:
    # Prepare: the message the client-side wrapper sends (the clipping norm in the config), and a ClientApp
    # step that moves the weights by a vector of norm 5
    strategy = build_strategy(FederationConfig(dp=mode, dp_clipping_norm=0.5, dp_clipped_count_stddev=1.0))
    start = np.zeros(8, dtype=np.float32)
    grid = _Nodes({1: {}, 2: {}})
    arrays, config = ArrayRecord({"w": Array(start)}), ConfigRecord({"dp": mode.value})
    message = next(iter(strategy.configure_train(1, arrays, config, grid)))
    step = np.full(8, 5 / math.sqrt(8), dtype=np.float32)

    def local_step(msg: Message, context: Context) -> Message:
        return _train_reply(msg.metadata.dst_node_id, start + step)

    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})

    # Execute
    reply = dp_clipping_mod(message, context, local_step)

    # Assert: clipped to 0.5 under client-side clipping, untouched otherwise (the server clips)
    sent = reply.content.array_records["arrays"]["w"].numpy()
    expected = 0.5 if mode in (DPMode.CLIENT_FIXED, DPMode.CLIENT_ADAPTIVE) else 5.0
    assert float(np.linalg.norm(sent - start)) == pytest.approx(expected, rel=1e-5)
