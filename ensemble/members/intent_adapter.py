"""A merchant's own intent adapter: LoRA matrices and a head trained on its messages over a shared base version.

An adapter version (member ``intent-adapter`` of the registry) holds only what the merchant's training changed:
the encoder's LoRA matrices, the classification head and its temperature (a few hundred kilobytes, where a full
intent version is the whole encoder), with the intent version it was trained on as its lineage parent and its
``base`` in ``config.json``. It is trained by :func:`train_adapter` (``shopmesh train intent --merchant M``) or
comes from a federation's personalised round, and published with :func:`save_adapter`.

:class:`AdapterBank` serves many adapters on one copy of each base: the base encoder is wrapped once by peft and
every adapter loaded is one more named LoRA adapter on it; a prediction activates its adapter under the base's
lock (peft has one active adapter at a time), and :meth:`ServedAdapter.release` deletes it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict

from ensemble.chat import ChatMode, HeadIntentStage
from ensemble.datasets import DataSplits
from ensemble.errors import ModelError
from ensemble.members.intent import MEMBER, IntentConfig, IntentModel
from ensemble.members.intent_artifact import load_intent
from ensemble.members.lora import HEAD_PREFIX, LORA_PREFIX, adapter_state, apply_lora
from ensemble.merchants import merchant_name_problem
from ensemble.registry import Lineage, ModelVersion, Registry, fingerprint_frame
from ensemble.training import TrainConfig, evaluate, fine_tune, fit_temperature

__all__ = [
    "ADAPTER_KIND",
    "ADAPTER_MEMBER",
    "AdapterBank",
    "AdapterInfo",
    "AdapterResult",
    "ServedAdapter",
    "adapter_info",
    "adapter_tensors",
    "publish_adapter_tensors",
    "save_adapter",
    "train_adapter",
]

logger = logging.getLogger(__name__)

ADAPTER_MEMBER = "intent-adapter"
ADAPTER_KIND = "lora-adapter"
TEMPERATURE = "temperature"


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter version's ``config.json`` says: whose it is, the intent version it adapts and its LoRA
    settings (which must be the base's to load)."""

    version_id: str
    merchant: str
    base: str
    labels: tuple[str, ...]
    lora_r: int
    lora_alpha: int
    lora_targets: tuple[str, ...]

    def lora_config(self) -> LoraConfig:
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=0.0,  # serving only: dropout is off in evaluation anyway
            target_modules=list(self.lora_targets),
            bias="none",
        )


def adapter_info(version_id: str, config: Mapping[str, Any]) -> AdapterInfo:
    """The :class:`AdapterInfo` of an adapter version's config, or :class:`ModelError` naming what is missing."""
    if config.get("kind") != ADAPTER_KIND:
        raise ModelError(
            f"{version_id} is not an intent adapter (config kind {config.get('kind')!r}); publish one with "
            "`shopmesh train intent --merchant M`"
        )
    try:
        lora = config["lora"]
        return AdapterInfo(
            version_id=version_id,
            merchant=str(config["merchant"]),
            base=str(config["base"]),
            labels=tuple(str(label) for label in config["labels"]),
            lora_r=int(lora["r"]),
            lora_alpha=int(lora["alpha"]),
            lora_targets=tuple(str(target) for target in lora["targets"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{version_id}'s config.json is not a complete adapter description ({err!r})") from err


def save_adapter(
    registry: Registry,
    model: IntentModel,
    *,
    merchant: str,
    base: str,
    metrics: Mapping[str, Any],
    lineage: Lineage,
) -> ModelVersion:
    """Publish the LoRA matrices, head and temperature of ``model`` (LoRA applied, trained on ``merchant``'s
    data over the intent version ``base``) as a new ``intent-adapter`` version."""
    return publish_adapter_tensors(
        registry,
        adapter_tensors(model),
        merchant=merchant,
        base=base,
        labels=model.labels,
        lora=(model.config.lora_r, model.config.lora_alpha, model.config.lora_targets),
        metrics=metrics,
        lineage=lineage,
    )


def adapter_tensors(model: IntentModel) -> dict[str, torch.Tensor]:
    """What an adapter version holds of ``model`` (LoRA applied): LoRA matrices, head and temperature."""
    tensors = adapter_state(model)
    tensors[TEMPERATURE] = model.temperature.detach().clone()
    return tensors


def publish_adapter_tensors(
    registry: Registry,
    tensors: Mapping[str, torch.Tensor],
    *,
    merchant: str,
    base: str,
    labels: Sequence[str],
    lora: tuple[int, int, Sequence[str]],
    metrics: Mapping[str, Any],
    lineage: Lineage,
) -> ModelVersion:
    """Publish adapter tensors (:func:`adapter_tensors`, made wherever the merchant trained them) for ``merchant``
    over ``base``; ``lora`` is ``(r, alpha, target modules)``. :class:`ModelError` when the tensors are not an
    adapter's or the lineage does not name the base."""
    if lineage.parent != base:
        raise ModelError(f"an adapter's lineage parent must be its base {base}, got {lineage.parent}")
    problem = merchant_name_problem(merchant)
    if problem is not None:
        raise ModelError(problem)
    odd = sorted(k for k in tensors if not k.startswith((LORA_PREFIX, HEAD_PREFIX)) and k != TEMPERATURE)
    if odd or TEMPERATURE not in tensors or not any(k.startswith(LORA_PREFIX) for k in tensors):
        raise ModelError(
            f"the tensors for {merchant}'s adapter are not an adapter's (unexpected {odd[:3]}; they need LoRA "
            f"matrices, a head and {TEMPERATURE!r})"
        )
    r, alpha, targets = lora
    config = {
        "kind": ADAPTER_KIND,
        "merchant": merchant,
        "base": base,
        "labels": list(labels),
        "lora": {"r": int(r), "alpha": int(alpha), "targets": list(targets)},
    }
    version = registry.publish(ADAPTER_MEMBER, tensors=tensors, config=config, metrics=metrics, lineage=lineage)
    logger.info("published %s for merchant %s over %s", version.id, merchant, base)
    return version


@dataclass(frozen=True)
class AdapterResult:
    version: ModelVersion
    metrics: dict[str, float]


def train_adapter(
    registry: Registry,
    merchant: str,
    splits: DataSplits,
    *,
    base: str | None = None,
    text_col: str = "instruction",
    label_col: str = "intent",
    train_config: TrainConfig | None = None,
    data_name: str = "merchant data",
    on_step: Callable[[int, int], None] | None = None,
) -> AdapterResult:
    """Train ``merchant``'s adapter over the intent version ``base`` (the latest by default): LoRA on the
    encoder and the head on ``splits.train`` (the base stays frozen), the temperature fitted on
    ``splits.val``; metrics of the adapter and of the base alone on ``splits.test``, then publish."""
    model, artifact = load_intent(registry, base)
    base_id = artifact.version.id
    test_texts, test_labels = splits.test[text_col].tolist(), splits.test[label_col].tolist()
    base_metrics = evaluate(model, test_texts, test_labels)
    cfg = train_config or TrainConfig(epochs=3)
    started = time.perf_counter()
    apply_lora(model)
    report = fine_tune(model, splits.train[text_col].tolist(), splits.train[label_col].tolist(), cfg, on_step=on_step)
    temperature = fit_temperature(model, splits.val[text_col].tolist(), splits.val[label_col].tolist())
    ours = evaluate(model, test_texts, test_labels)
    metrics = {
        **ours,
        "base_accuracy": base_metrics["accuracy"],
        "base_macro_f1": base_metrics["macro_f1"],
        "temperature": temperature,
        "train_examples": float(report.examples),
        "train_seconds": time.perf_counter() - started,
    }
    lineage = Lineage(
        parent=base_id,
        data_fingerprint=fingerprint_frame(splits.train[[text_col, label_col]]),
        method="central",
        details={
            "data": data_name,
            "merchant": merchant,
            "trainer": "lora adapter",
            "epochs": cfg.epochs,
            "learning_rate": cfg.learning_rate,
        },
    )
    version = save_adapter(registry, model, merchant=merchant, base=base_id, metrics=metrics, lineage=lineage)
    return AdapterResult(version, metrics)


@dataclass
class _Base:
    """One intent version's encoder wrapped by peft, shared by every adapter loaded over it."""

    version_id: str
    encoder: PeftModel
    tokenizer: Any
    config: IntentConfig
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapters: dict[str, int] = field(default_factory=dict)  # adapter -> how many ServedAdapters hold it
    active: str | None = None  # the adapter peft has active (set_adapter walks every module: skip it when set)

    def activate(self, adapter: str) -> None:
        """Make ``adapter`` the active one; hold :attr:`lock`."""
        if self.active != adapter:
            self.encoder.set_adapter(adapter)
            self.active = adapter


class ServedAdapter:
    """One adapter loaded on its base: :meth:`decide` answers like the intent stage, with its head."""

    def __init__(self, bank: AdapterBank, base: _Base, info: AdapterInfo, model: IntentModel) -> None:
        self.info = info
        self._bank = bank
        self._base = base
        self._model = model
        self._stage = HeadIntentStage(model, base.version_id, reason=f"merchant adapter {info.version_id}")
        self._released = False

    @property
    def version_id(self) -> str:
        return self.info.version_id

    @property
    def base_version_id(self) -> str:
        return self._base.version_id

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]:
        """Head-only intent decisions of the adapted model, each naming the adapter (``adapter``)."""
        if self._released:
            raise ModelError(f"adapter {self.version_id} was unloaded; load it again")
        with self._base.lock:
            self._base.activate(self.version_id)
            decisions = self._stage.decide(texts, mode)
        return [{**decision, "adapter": self.version_id} for decision in decisions]

    def release(self) -> None:
        """Delete the adapter from its base (the base too when it was the last); twice is once."""
        if not self._released:
            self._released = True
            self._bank.release(self._base, self.version_id)

    def __del__(self) -> None:
        # Ray Serve's multiplexer calls this when it evicts the adapter from a replica's cache. At interpreter
        # exit torch may already be torn down; there is nothing left to release then.
        try:
            self.release()
        except Exception:  # a finalizer must not raise
            logger.debug("adapter %s not released at exit", self.info.version_id, exc_info=True)


class AdapterBank:
    """The adapters a replica serves, each on a shared copy of its base version's encoder."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._bases: dict[str, _Base] = {}
        self.loads = 0  # adapters loaded so far (a cache miss of the replica each)

    def bases(self) -> dict[str, list[str]]:
        """Each base version loaded and the adapters on it."""
        with self._lock:
            return {version: sorted(base.adapters) for version, base in self._bases.items()}

    def load(self, adapter: str) -> ServedAdapter:
        """Load adapter version ``adapter`` (``intent-adapter:v0003``) on its base and smoke-check it;
        :class:`ShopmeshError` (version missing, damaged, made for another architecture) leaves nothing loaded."""
        self.loads += 1
        artifact = self._registry.load(ADAPTER_MEMBER, adapter)
        info = adapter_info(artifact.version.id, artifact.config)
        base = self._base(info.base)
        tensors = artifact.tensors
        lora = {k.removeprefix(LORA_PREFIX): v for k, v in tensors.items() if k.startswith(LORA_PREFIX)}
        head = {k.removeprefix(HEAD_PREFIX): v for k, v in tensors.items() if k.startswith(HEAD_PREFIX)}
        with base.lock:
            shared = info.version_id in base.adapters  # a version is immutable: its LoRA tensors are there already
            try:
                if not shared:
                    base.active = None  # adding an adapter may change which one peft has active
                    base.encoder.add_adapter(info.version_id, info.lora_config())
                    outcome = set_peft_model_state_dict(base.encoder, lora, adapter_name=info.version_id)
                    unexpected = list(getattr(outcome, "unexpected_keys", []) or [])
                    if unexpected or not lora:
                        raise ModelError(
                            f"{info.version_id}'s LoRA tensors do not fit its base {info.base} "
                            f"(unexpected {unexpected[:3]}, {len(lora)} given)"
                        )
                model = IntentModel(base.encoder, base.tokenizer, info.labels, base.config)
                model.head.load_state_dict(head)
                model.temperature.copy_(tensors[TEMPERATURE])
                model.eval()
            except (KeyError, RuntimeError, ValueError, ModelError) as err:
                if not shared and info.version_id in base.encoder.peft_config:
                    base.encoder.delete_adapter(info.version_id)
                    base.active = None
                self._drop_if_unused(base)
                if isinstance(err, ModelError):
                    raise
                raise ModelError(f"{info.version_id} cannot be loaded on {info.base}: {err}") from err
            base.adapters[info.version_id] = base.adapters.get(info.version_id, 0) + 1
        with self._lock:
            self._bases.setdefault(base.version_id, base)  # a release may have dropped it meanwhile
        served = ServedAdapter(self, base, info, model)
        try:
            served.decide(["where is my order"], ChatMode.SERIAL)
        except Exception as err:
            served.release()
            raise ModelError(f"{info.version_id} failed its smoke check: {err}") from err
        logger.info("adapter %s of merchant %s loaded on %s", info.version_id, info.merchant, info.base)
        return served

    def _base(self, version: str) -> _Base:
        with self._lock:
            found = self._bases.get(version)
            if found is not None:
                return found
        model, artifact = load_intent(self._registry, version)
        if artifact.version.member != MEMBER:
            raise ModelError(f"an adapter's base must be an intent version, got {artifact.version.id}")
        encoder = model.encoder
        for param in encoder.parameters():
            param.requires_grad_(False)
        # peft needs one adapter to wrap the model; this placeholder has B = 0, so it changes nothing, and is
        # never activated for a prediction.
        placeholder = LoraConfig(r=1, lora_alpha=1, target_modules=list(model.config.lora_targets), bias="none")
        wrapped = get_peft_model(encoder, placeholder, adapter_name="base")
        wrapped.eval()
        base = _Base(artifact.version.id, wrapped, model.tokenizer, model.config)
        with self._lock:
            return self._bases.setdefault(base.version_id, base)

    def release(self, base: _Base, adapter: str) -> None:
        """One holder of ``adapter`` lets it go; the last one deletes it from its base (and the base when no
        adapter is left on it)."""
        with base.lock:
            refs = base.adapters.get(adapter, 0)
            if refs > 1:
                base.adapters[adapter] = refs - 1
            elif refs == 1:
                del base.adapters[adapter]
                base.encoder.delete_adapter(adapter)
                base.active = None
                logger.info("adapter %s unloaded from %s", adapter, base.version_id)
            self._drop_if_unused(base)

    def _drop_if_unused(self, base: _Base) -> None:
        with self._lock:
            if not base.adapters and self._bases.get(base.version_id) is base:
                del self._bases[base.version_id]
