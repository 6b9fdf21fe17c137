"""Wikipedia toxicity test evaluation: overall AUC and per-identity-term figures on Dixon et al.'s test sets.

Dixon et al. (2018, AIES) built two test sets of 1,492 Wikipedia Talk comments (248 toxic) rich in identity
terms: ``nonfuzzed`` as written, and ``fuzzed``, where each identity term was replaced at random by another,
so that a model whose scores follow the terms rather than the comments does worse there. The section holds,
per set, the overall AUC and the per-term figures of
:mod:`lightning_bias_plugins.evaluation.identity_term_scoring` (FPR/FNR with Wilson intervals, FPED/FNED,
subgroup/BPSN/BNSP AUCs, the Jigsaw final score). A comment can mention several terms or none; the terms
are found by identity-term matching with ``identity_terms`` (default the project's list).

The files are ``wiki_toxicity_dixon2018/toxicity_<variant>_testset.csv(.gz)`` under the data root
(``data_root`` option or ``LIGHTNING_BIAS_DATA``), columns ``comment`` and ``toxic`` (True/False).
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning_bias_plugins.evaluation.identity_term_examples import (
    NON_TOXIC_VALUES,
    TOXIC_VALUES,
    TermExamples,
    read_term_examples,
    set_file,
)
from lightning_bias_plugins.evaluation.identity_term_scoring import SPLITS, IdentityTermEvaluation

VARIANTS = ("nonfuzzed", "fuzzed")
WIKI_COLUMNS = {"text": "comment", "label": "toxic"}


class WikiToxicityTest(IdentityTermEvaluation):
    """Overall AUC and per-identity-term FPR/FNR and bias AUCs on Dixon et al.'s Wikipedia toxicity test sets.

    Args:
        variants: which test sets (``nonfuzzed``, ``fuzzed``; default both); the section has one entry each.
        data_root: the folder holding ``wiki_toxicity_dixon2018/``; default ``LIGHTNING_BIAS_DATA``.
        identity_terms: term list files; default the project's list.
        toxic_class, splits, batch_size, max_length, thresholds, decision_threshold, power,
            min_term_examples: see
            :class:`~lightning_bias_plugins.evaluation.identity_term_scoring.IdentityTermEvaluation`.
    """

    report_name = "wiki_toxicity_test"

    def __init__(
        self,
        variants: Sequence[str] = VARIANTS,
        data_root: str | None = None,
        identity_terms: Sequence[str] | None = None,
        toxic_class: str | None = None,
        splits: Sequence[str] = SPLITS,
        batch_size: int = 64,
        max_length: int | None = None,
        thresholds: int = 500,
        decision_threshold: float = 0.5,
        power: float = -5.0,
        min_term_examples: int = 10,
    ) -> None:
        super().__init__(toxic_class, splits, batch_size, max_length, thresholds, decision_threshold, power,
                         min_term_examples)
        unknown = [variant for variant in variants if variant not in VARIANTS]
        if unknown or not variants:
            raise ValueError(f"wiki_toxicity_test: variants must be a non-empty list among {list(VARIANTS)}; "
                             f"got {list(variants)}")
        self.variants = list(dict.fromkeys(variants))
        self.data_root = data_root
        self.identity_terms = [identity_terms] if isinstance(identity_terms, str) else identity_terms

    def load_sets(self) -> dict[str, TermExamples]:
        """One set per variant."""
        return {
            variant: read_term_examples(
                set_file(None, self.data_root, "wiki_toxicity_dixon2018", f"toxicity_{variant}_testset",
                         self.report_name),
                WIKI_COLUMNS, TOXIC_VALUES, NON_TOXIC_VALUES, self.identity_terms, self.report_name,
            )
            for variant in self.variants
        }
