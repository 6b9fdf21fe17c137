"""Downstream mitigations: they change the fine-tuning data, its weights or its sampling order."""
