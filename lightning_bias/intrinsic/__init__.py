"""Intrinsic bias of masked language models: log-probability bias, CrowS-Pairs, StereoSet.

- ``log_probability_bias`` (Kurita et al. 2019) on occupation templates (``templates``);
- ``crows_pairs_score`` (Nangia et al. 2020) by pseudo-log-likelihood of the shared tokens;
- ``stereoset_intrasentence_score`` (Nadeem et al. 2021): SS, LMS, ICAT;
- ``measure_intrinsic_bias`` runs the ones selected by ``IntrinsicBiasOptions`` on a model it is given
  (loading a saved model and scoring it is the ``evaluate-intrinsic`` command, ``lightning_bias.commands``).
"""

from lightning_bias.intrinsic.crows_pairs import CrowsPair, crows_pairs_score, load_crows_pairs
from lightning_bias.intrinsic.log_probability_bias import log_probability_bias
from lightning_bias.intrinsic.stereoset import (
    StereoSetExample,
    load_stereoset_intrasentence,
    stereoset_intrasentence_score,
)
from lightning_bias.intrinsic.suite import IntrinsicBiasOptions, headline_numbers, measure_intrinsic_bias

__all__ = [
    "CrowsPair",
    "IntrinsicBiasOptions",
    "StereoSetExample",
    "crows_pairs_score",
    "headline_numbers",
    "load_crows_pairs",
    "load_stereoset_intrasentence",
    "log_probability_bias",
    "measure_intrinsic_bias",
    "stereoset_intrasentence_score",
]
