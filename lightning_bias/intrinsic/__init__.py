"""Intrinsic bias of encoders: head-free measures for any encoder, masked-LM measures for models with their own head.

Head-free (they read only hidden states, so they are sound for a sentence encoder too):

- ``association_tests`` (SEAT-style effect sizes with permutation p-values on sentence embeddings);
- ``gender_probe`` (a linear probe of gender from occupation-word contexts: held-out accuracy and
  the probe's occupation-gender alignment).

Masked-LM (read the masked-LM head; through a head fitted to a frozen encoder they are probe readings):

- ``log_probability_bias`` (Kurita et al. 2019) on occupation templates (``templates``);
- ``crows_pairs_score`` (Nangia et al. 2020) by pseudo-log-likelihood of the shared tokens;
- ``stereoset_intrasentence_score`` (Nadeem et al. 2021): SS, LMS, ICAT;
- ``measure_intrinsic_bias`` runs the ones selected by ``IntrinsicBiasOptions`` on a model it is given
  (loading a saved model and scoring it is the ``evaluate-intrinsic`` command, ``lightning_bias.commands``);
- ``interval_over_seeds`` combines the results of several training seeds (between-seed and probe-set variance).
"""

from lightning_bias.intrinsic.association_test import association_test, association_tests
from lightning_bias.intrinsic.crows_pairs import CrowsPair, crows_pairs_score, load_crows_pairs
from lightning_bias.intrinsic.gender_probe import gender_probe
from lightning_bias.intrinsic.log_probability_bias import log_probability_bias
from lightning_bias.intrinsic.seed_variation import interval_over_seeds
from lightning_bias.intrinsic.stereoset import (
    StereoSetExample,
    load_stereoset_intrasentence,
    stereoset_intrasentence_score,
)
from lightning_bias.intrinsic.suite import (
    IntrinsicBiasOptions,
    headline_intervals,
    headline_numbers,
    measure_intrinsic_bias,
)

__all__ = [
    "CrowsPair",
    "association_test",
    "association_tests",
    "gender_probe",
    "headline_intervals",
    "interval_over_seeds",
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
