"""Roll a member of a running cluster out to another version, or back to the one it served before.

From any process that reaches the cluster's Serve REST API (:mod:`cluster.serve_rest`): the application's
deployed config is read back, the ``user_config`` of the deployment that serves the member is changed to name
the new version (with a rollout id and the journal to report to) and the config is applied again. Serve calls
``reconfigure`` on every live replica, which loads the version beside the one serving, smoke-checks it and
swaps it in, or keeps the old one and says why (:mod:`cluster.reloading`). The rollout waits for a report of
every running replica; if any kept the old version, the previous config is applied again (so that a replica
started later does not try the broken version either) and :class:`RolloutError` gives the replicas' reasons.

A canary or shadow (``canary=PERCENT`` / ``shadow=True``, :mod:`cluster.candidate`) serves an intent version
beside the live one the same way, under the ``candidate`` key; :func:`promote` rolls it out as the live
version and :func:`abort` drops it.

What was served is kept in the cluster's state directory (:class:`~cluster.rollout_journal.RolloutJournal`), so
that ``rollback`` knows the previous version whichever process rolled out.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from cluster.app import ENSEMBLE, served_member
from cluster.candidate import CANDIDATE_MEMBER, CandidateMode, CandidatePlan, ShadowLog, ShadowSummary
from cluster.config import ClusterConfig
from cluster.errors import ClusterConfigError, RolloutError
from cluster.members import MemberName, Topology
from cluster.rollout_journal import ReplicaReport, RolloutJournal
from cluster.serve_rest import ServeRest, dashboard_url
from ensemble.chat import ensemble_parent
from ensemble.errors import ShopmeshError
from ensemble.registry import Registry

__all__ = ["CandidateEnd", "RolloutMember", "RolloutResult", "abort", "promote", "rollback", "rollout"]

logger = logging.getLogger(__name__)

_POLL_S = 0.5


class RolloutMember(StrEnum):
    """What can be rolled out: every served member, and the intent ensemble built on an intent version."""

    INTENT = "intent"
    INTENT_ENSEMBLE = "intent-ensemble"
    REPLY = "reply"
    GRAPH = "graph"
    FORECASTER = "forecaster"
    PRICER = "pricer"
    VISION = "vision"

    @classmethod
    def parse(cls, value: str) -> RolloutMember:
        aliases = {"recommender": cls.GRAPH, "recommenders": cls.GRAPH}
        if value in aliases:
            return aliases[value]
        try:
            return cls(value)
        except ValueError as err:
            raise RolloutError(
                f"cannot roll out {value!r}; members are {[m.value for m in cls]} (recommenders are the graph's)"
            ) from err

    @property
    def served_by(self) -> MemberName:
        """The member whose deployment serves it."""
        return MemberName.INTENT if self is RolloutMember.INTENT_ENSEMBLE else MemberName(self.value)


@dataclass(frozen=True)
class RolloutResult:
    """A rollout that took: the member, what it served before and serves now, and on how many replicas."""

    member: RolloutMember
    previous: str | None
    version: str
    deployment: str
    replicas: int


@dataclass(frozen=True)
class _Target:
    deployment: str
    updates: dict[str, Any]
    removals: tuple[str, ...]
    target: str  # what is recorded: a version id, or a graph directory


def _deployment_name(config: ClusterConfig, member: RolloutMember) -> str:
    row = served_member(member.served_by)
    if config.topology is Topology.COLOCATED and row.colocated:
        return ENSEMBLE.deployment_name
    return row.deployment_name


def _target(config: ClusterConfig, member: RolloutMember, version: str | None) -> _Target:
    """The deployment and the ``user_config`` keys that make it serve ``version`` (None: the newest)."""
    deployment = _deployment_name(config, member)
    colocated = deployment == ENSEMBLE.deployment_name
    registry = Registry(config.registry_dir)
    try:
        if member is RolloutMember.GRAPH:
            directory = Path(version).resolve() if version else config.graph_dir
            if not directory.is_dir():
                raise RolloutError(f"graph directory {directory} does not exist; save a graph there first")
            return _Target(deployment, {"graph_dir": str(directory)}, (), str(directory))
        if member is RolloutMember.INTENT_ENSEMBLE:
            built, parent = ensemble_parent(registry, version)
            return _Target(deployment, {"version": parent, "ensemble_version": built.id}, (), built.id)
        resolved = registry.resolve(served_member(member.served_by).registry_member or member.value, version).id
    except ShopmeshError as err:
        raise RolloutError(f"cannot roll out {member} {version or '(latest)'}: {err}") from err
    if member is RolloutMember.INTENT:  # a plain rollout of intent also ends its canary or shadow
        return _Target(deployment, {"version": resolved}, ("ensemble_version", "candidate"), resolved)
    key = "reply_version" if member is RolloutMember.REPLY and colocated else "version"
    return _Target(deployment, {key: resolved}, (), resolved)


def _served(config: ClusterConfig, member: RolloutMember) -> tuple[str | None, str | None]:
    """What ``/healthz`` says the member serves now: (the target it was given, the version id)."""
    try:
        health = httpx.get(f"{config.url}/healthz", timeout=30.0).json()
    except (httpx.HTTPError, ValueError) as err:
        raise RolloutError(f"the cluster's ingress at {config.url} did not answer /healthz ({err})") from err
    status = health.get(member.served_by.value) or {}
    if member is RolloutMember.INTENT_ENSEMBLE:
        version = status.get("ensemble_version")
        return version, version
    if member is RolloutMember.GRAPH:
        return status.get("source"), status.get("version")
    return status.get("version"), status.get("version")


def _app_config(app: dict[str, Any], app_name: str) -> dict[str, Any]:
    deployed = app.get("deployed_app_config")
    if not deployed:
        raise RolloutError(
            f"application {app_name!r} was not deployed from a config (e.g. it was started with serve.run), so "
            "its deployments cannot be reconfigured in place; deploy it with `shopmesh serve` or `serve deploy`"
        )
    config: dict[str, Any] = copy.deepcopy(deployed)
    return config


def _with_user_config(app_config: dict[str, Any], target: _Target, rollout: dict[str, str]) -> dict[str, Any]:
    changed = copy.deepcopy(app_config)
    deployments: list[dict[str, Any]] = changed.setdefault("deployments", [])
    entry = next((d for d in deployments if d.get("name") == target.deployment), None)
    if entry is None:
        entry = {"name": target.deployment}
        deployments.append(entry)
    user_config = {k: v for k, v in dict(entry.get("user_config") or {}).items() if k not in target.removals}
    entry["user_config"] = {**user_config, **target.updates, "rollout": rollout}
    return changed


def _wait_for_reports(
    rest: ServeRest,
    app_name: str,
    deployment: str,
    journal: RolloutJournal,
    rollout_id: str,
    member: str,
    timeout_s: float,
) -> list[ReplicaReport]:
    """Every running replica's report of the rollout for ``member``, once each one has given it."""
    deadline = time.monotonic() + timeout_s
    waiting: list[str] = []
    while time.monotonic() < deadline:
        app = rest.application(app_name)
        replicas = (app.get("deployments") or {}).get(deployment, {}).get("replicas") or []
        running = [r["replica_id"] for r in replicas if r.get("state") == "RUNNING"]
        reports = {r.replica: r for r in journal.reports(rollout_id, member)}
        waiting = [replica for replica in running if replica not in reports]
        if running and not waiting:
            return [reports[replica] for replica in running]
        time.sleep(_POLL_S)
    raise RolloutError(
        f"replicas {waiting or '(none running)'} of {deployment} did not report rollout {rollout_id} within "
        f"{timeout_s:g} s; see the cluster's logs, or raise --timeout"
    )


@dataclass(frozen=True)
class _Deployed:
    """The application a rollout changes, as the Serve REST API gives it, and the cluster config it runs."""

    rest: ServeRest
    details: dict[str, Any]
    app_name: str
    app_config: dict[str, Any]
    config: ClusterConfig
    journal: RolloutJournal

    @classmethod
    def read(cls, address: str, app_name: str) -> _Deployed:
        rest = ServeRest(dashboard_url(address))
        details = rest.details()
        app_config = _app_config(rest.application(app_name), app_name)
        try:
            config = ClusterConfig.from_args(app_config.get("args") or {})
        except ClusterConfigError as err:
            raise RolloutError(f"application {app_name!r} is not a shopmesh ensemble ({err})") from err
        return cls(rest, details, app_name, app_config, config, RolloutJournal.in_state_dir(config.state_path))

    def user_config(self, deployment: str) -> dict[str, Any]:
        entry = next((d for d in self.app_config.get("deployments") or [] if d.get("name") == deployment), None)
        return dict((entry or {}).get("user_config") or {})

    def apply(self, target: _Target, member: str, timeout_s: float, action: str) -> list[ReplicaReport]:
        """Apply ``target`` and wait for every running replica's report on ``member``; when any kept what it
        served, the config before is applied again and :class:`RolloutError` gives the replicas' reasons."""
        rollout_id = uuid.uuid4().hex
        changed = _with_user_config(self.app_config, target, {"id": rollout_id, "journal": str(self.journal.path)})
        self.rest.apply(self.details, self.app_name, changed)
        try:
            ours = _wait_for_reports(
                self.rest, self.app_name, target.deployment, self.journal, rollout_id, member, timeout_s
            )
        except RolloutError:
            self.rest.apply(self.details, self.app_name, self.app_config)
            raise
        failed = [r for r in ours if r.error]
        if failed:
            self.rest.apply(self.details, self.app_name, self.app_config)  # later replicas must not try it either
            reasons = "; ".join(sorted({r.error or "" for r in failed}))
            raise RolloutError(f"{action} of {member} to {target.target} did not take: {reasons}")
        return ours


def _roll(
    address: str, member: RolloutMember, version: str | None, app_name: str, timeout_s: float, action: str
) -> RolloutResult:
    deployed = _Deployed.read(address, app_name)
    config, journal = deployed.config, deployed.journal
    target = _target(config, member, version)
    given, previous = _served(config, member)
    if not journal.history(member.value) and given is not None and previous is not None:
        journal.record_served(member.value, given, previous, "initial")
    logger.info("%s %s: %s -> %s on %s", action, member, previous, target.target, target.deployment)
    try:
        ours = deployed.apply(target, member.value, timeout_s, action)
    except RolloutError as err:
        raise RolloutError(f"{err}; {previous} keeps serving") from err
    served = ours[0].serving or target.target
    if action in ("rollout", "promote"):
        journal.record_served(member.value, target.target, served, action)
    logger.info("%s of %s done: %s now serves on %s replicas", action, member, served, len(ours))
    return RolloutResult(member, previous, served, target.deployment, len(ours))


def rollout(
    address: str,
    member: str,
    version: str | None = None,
    *,
    app_name: str = "shopmesh",
    timeout_s: float = 300.0,
    canary: int | None = None,
    shadow: bool = False,
) -> RolloutResult:
    """Serve ``version`` of ``member`` (None: the registry's newest; for the graph, a graph directory) on the
    cluster at ``address`` without restarting replicas; :class:`RolloutError` when it did not take.

    With ``canary`` (a percentage) or ``shadow`` the intent version is served beside the live one instead
    (:mod:`cluster.candidate`) until :func:`promote` or :func:`abort`; a plain rollout of intent ends a
    candidate that was being served."""
    parsed = RolloutMember.parse(member)
    if canary is None and not shadow:
        return _roll(address, parsed, version, app_name, timeout_s, "rollout")
    return _serve_candidate(address, parsed, version, app_name, timeout_s, canary, shadow)


def _serve_candidate(
    address: str,
    member: RolloutMember,
    version: str | None,
    app_name: str,
    timeout_s: float,
    canary: int | None,
    shadow: bool,
) -> RolloutResult:
    if member is not RolloutMember.INTENT:
        raise RolloutError(
            f"a canary or shadow serves two intent versions side by side; {member} rolls out directly "
            f"(`shopmesh rollout {member} VERSION`)"
        )
    if canary is not None and shadow:
        raise RolloutError("choose --canary PERCENT or --shadow, not both")
    deployed = _Deployed.read(address, app_name)
    target = _target(deployed.config, member, version)
    mode = CandidateMode.SHADOW if shadow else CandidateMode.CANARY
    plan = CandidatePlan(mode, target.target, canary or 0, str(deployed.journal.path) if shadow else None)
    _, live = _served(deployed.config, member)
    if live == plan.version:
        raise RolloutError(f"{plan.version} is the live intent version already; name another version for a {mode}")
    candidate = _Target(target.deployment, {"candidate": plan.to_user_config()}, (), plan.version)
    logger.info("serving %s %s beside %s on %s", mode, plan.version, live, target.deployment)
    try:
        ours = deployed.apply(candidate, CANDIDATE_MEMBER, timeout_s, mode.value)
    except RolloutError as err:
        raise RolloutError(f"{err}; {live} keeps serving alone") from err
    return RolloutResult(member, live, plan.version, target.deployment, len(ours))


@dataclass(frozen=True)
class CandidateEnd:
    """How a canary or shadow ended: the plan it served, the rollout that made it live (``promote``), and for
    a shadow how its answers compared with the live ones."""

    plan: CandidatePlan
    promoted: RolloutResult | None
    shadow: ShadowSummary | None


def _candidate_of(deployed: _Deployed, member: RolloutMember) -> tuple[str, CandidatePlan]:
    if member is not RolloutMember.INTENT:
        raise RolloutError(f"only intent is served with a canary or shadow; {member} has none")
    deployment = _deployment_name(deployed.config, member)
    plan = CandidatePlan.from_user_config(deployed.user_config(deployment).get("candidate"))
    if plan is None:
        raise RolloutError(
            f"no canary or shadow of {member} is being served; start one with "
            f"`shopmesh rollout {member} VERSION --canary PERCENT` or `--shadow`"
        )
    return deployment, plan


def _shadow_summary(deployed: _Deployed, plan: CandidatePlan) -> ShadowSummary | None:
    if plan.mode is not CandidateMode.SHADOW:
        return None
    with ShadowLog(deployed.journal.path) as log:
        return log.summary(plan.version)


def promote(
    address: str, member: str = "intent", *, app_name: str = "shopmesh", timeout_s: float = 300.0
) -> CandidateEnd:
    """Make the canary or shadow of ``member`` the live version (a rollout; ``rollback`` returns from it)."""
    parsed = RolloutMember.parse(member)
    deployed = _Deployed.read(address, app_name)
    _, plan = _candidate_of(deployed, parsed)
    summary = _shadow_summary(deployed, plan)
    result = _roll(address, parsed, plan.version, app_name, timeout_s, "promote")
    return CandidateEnd(plan, result, summary)


def abort(
    address: str, member: str = "intent", *, app_name: str = "shopmesh", timeout_s: float = 300.0
) -> CandidateEnd:
    """Stop serving the canary or shadow of ``member``; the live version answers everything again."""
    parsed = RolloutMember.parse(member)
    deployed = _Deployed.read(address, app_name)
    deployment, plan = _candidate_of(deployed, parsed)
    summary = _shadow_summary(deployed, plan)
    deployed.apply(_Target(deployment, {}, ("candidate",), "none"), CANDIDATE_MEMBER, timeout_s, "abort")
    return CandidateEnd(plan, None, summary)


def rollback(address: str, member: str, *, app_name: str = "shopmesh", timeout_s: float = 300.0) -> RolloutResult:
    """Serve the version ``member`` served before its last rollout."""
    parsed = RolloutMember.parse(member)
    deployed = _Deployed.read(address, app_name)
    journal = deployed.journal
    history = journal.history(parsed.value)
    if len(history) < 2:
        raise RolloutError(
            f"no version of {parsed} before the one serving is recorded in {journal.path}; roll out a version "
            f"first (`shopmesh rollout {parsed} VERSION`)"
        )
    previous = history[-2]
    result = _roll(deployed.rest.base_url, parsed, previous.target, app_name, timeout_s, "rollback")
    journal.drop_last(parsed.value)
    return result
