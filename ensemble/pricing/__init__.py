"""The pricing member: a Dominick's-calibrated demand simulator, a guardrailed contextual Thompson-sampling
pricer, and the offline policy comparison."""

from __future__ import annotations

from ensemble.pricing.bandit import PriceContext, PriceDecision, ThompsonPricer, reference_tables
from ensemble.pricing.demand_check import check_demand_model, predict_log_units
from ensemble.pricing.demand_model import BrandDemand, DemandModel, fit_demand_model
from ensemble.pricing.evaluation import evaluate_pricing, evaluate_pricing_seeds, run_policies
from ensemble.pricing.guardrails import Guardrails, allowed_prices, binding_guardrails
from ensemble.pricing.posterior import DemandPosterior, PriorConfig
from ensemble.pricing.simulator import PricingWorld, build_world

__all__ = [
    "BrandDemand",
    "DemandModel",
    "DemandPosterior",
    "Guardrails",
    "PriceContext",
    "PriceDecision",
    "PricingWorld",
    "PriorConfig",
    "ThompsonPricer",
    "allowed_prices",
    "binding_guardrails",
    "build_world",
    "check_demand_model",
    "evaluate_pricing",
    "evaluate_pricing_seeds",
    "fit_demand_model",
    "predict_log_units",
    "reference_tables",
    "run_policies",
]
