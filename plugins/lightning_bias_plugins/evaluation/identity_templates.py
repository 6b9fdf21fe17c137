"""Identity-template evaluation: a toxicity classifier's per-identity-term errors on synthetic template sentences.

The 77k "madlibs" of Dixon et al. (2018, AIES) fill templates ("<name> is a <identity> person", "I hate
<identity> people"...) with identity terms, half toxic by construction. A classifier without unintended bias
makes the same false positive and false negative rates on every term; the section reports, per term, FPR and
FNR with Wilson intervals, the equality differences FPED and FNED, the subgroup, BPSN and BNSP AUCs of
Borkan et al. (2019) and the Jigsaw final bias score (power mean p = -5 with the overall AUC), plus the same
rates per template (``by_template``). Layout: :mod:`lightning_bias_plugins.evaluation.identity_term_scoring`.

The set is ``bias_madlibs_77k/bias_madlibs_77k.csv.gz`` under the data root (``data_root`` option or
``LIGHTNING_BIAS_DATA``), or any file of the same shape (``file``; ``columns`` name its text, label and
optional term and template columns). Without a term column the terms a text mentions are found with the
identity term lists (``identity_terms``: the Dixon et al. list is
``hate_speech_identity_terms/identity_term_lists/identity.csv`` in the shared data; default the project's own).
``max_examples`` scores a seeded subsample (the full set takes minutes on a CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_bias_plugins.evaluation.identity_term_examples import (
    NON_TOXIC_VALUES,
    TOXIC_VALUES,
    TermExamples,
    read_term_examples,
    set_file,
    subsample,
)
from lightning_bias_plugins.evaluation.identity_term_scoring import SPLITS, IdentityTermEvaluation

MADLIBS_COLUMNS = {"text": "Text", "label": "Label", "template": "Template"}


class IdentityTemplates(IdentityTermEvaluation):
    """Per-identity-term FPR/FNR, bias AUCs and the Jigsaw score on Dixon et al.'s identity templates (madlibs).

    Args:
        file: an evaluation CSV (or TSV/JSONL/Parquet, optionally gzipped); default the madlibs under the data root.
        data_root: the folder holding ``bias_madlibs_77k/``; default ``LIGHTNING_BIAS_DATA``.
        columns: ``text``, ``label`` and optional ``term`` and ``template`` column names (default the madlibs':
            ``Text``, ``Label``, ``Template``).
        toxic_values, non_toxic_values: the label spellings of each class (case-insensitive).
        identity_terms: term list files, for a file without a term column; default the project's list.
        max_examples: score a seeded subsample of this many rows; default every row.
        seed: seeds the subsample.
        toxic_class, splits, batch_size, max_length, thresholds, decision_threshold, power,
            min_term_examples: see
            :class:`~lightning_bias_plugins.evaluation.identity_term_scoring.IdentityTermEvaluation`.
    """

    report_name = "identity_templates"

    def __init__(
        self,
        file: str | None = None,
        data_root: str | None = None,
        columns: dict[str, str | None] | None = None,
        toxic_values: Sequence[str] = TOXIC_VALUES,
        non_toxic_values: Sequence[str] = NON_TOXIC_VALUES,
        identity_terms: Sequence[str] | None = None,
        max_examples: int | None = None,
        seed: int = 0,
        toxic_class: str | None = None,
        splits: Sequence[str] = SPLITS,
        batch_size: int = 128,
        max_length: int | None = None,
        thresholds: int = 500,
        decision_threshold: float = 0.5,
        power: float = -5.0,
        min_term_examples: int = 10,
    ) -> None:
        super().__init__(toxic_class, splits, batch_size, max_length, thresholds, decision_threshold, power,
                         min_term_examples)
        if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                         or max_examples < 1):
            raise ValueError(f"identity_templates: max_examples must be a positive integer, got {max_examples!r}")
        self.file = file
        self.data_root = data_root
        self.columns = dict(columns) if columns is not None else (dict(MADLIBS_COLUMNS) if file is None else {})
        self.toxic_values = list(toxic_values)
        self.non_toxic_values = list(non_toxic_values)
        self.identity_terms = [identity_terms] if isinstance(identity_terms, str) else identity_terms
        self.max_examples = max_examples
        self.seed = seed

    def load_sets(self) -> dict[str, TermExamples]:
        """The one set: the madlibs (or ``file``), subsampled when ``max_examples`` says so."""
        path = set_file(self.file, self.data_root, "bias_madlibs_77k", "bias_madlibs_77k", self.report_name)
        examples = read_term_examples(path, self.columns, self.toxic_values, self.non_toxic_values,
                                      self.identity_terms, self.report_name)
        return {"madlibs": subsample(examples, self.max_examples, self.seed)}

    def section_of(self, sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The one set's section as it is."""
        return sections["madlibs"]
