"""Upstream mitigations: they act on masked-LM (continued) pre-training."""
