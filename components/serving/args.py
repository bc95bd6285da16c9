"""The serving args live with every component's args (components/args/serving.py); re-exported here."""

from ..args.serving import ExistingRollouts, ModelServingArgs, ServedModel, ServingSettings, SmokeRequest

__all__ = ["ExistingRollouts", "ModelServingArgs", "ServedModel", "ServingSettings", "SmokeRequest"]
