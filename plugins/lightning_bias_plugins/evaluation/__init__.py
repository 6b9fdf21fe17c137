"""Evaluations: they measure a trained classifier and report, without changing training."""
