"""Latency prediction: features, estimators, evaluation protocols, profiles."""
