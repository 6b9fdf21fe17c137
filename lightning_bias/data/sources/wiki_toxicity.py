"""``WikiToxicitySource``: the Wikipedia Talk comments of Dixon et al.'s (2018) identity-term test sets."""

from __future__ import annotations

from collections.abc import Sequence

from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.sources.data_root import data_root, find_split_files, no_data_root, read_split_files
from lightning_bias.data.sources.identity_grouping import IdentityGrouping

FOLDERS = ("wiki_toxicity_dixon2018", "wiki_toxicity")
LABEL_NAMES = {False: "non_toxic", True: "toxic"}
VARIANTS = ("nonfuzzed", "fuzzed")


class WikiToxicitySource(ClassificationSource):
    """Wikipedia Talk comments, toxic or not, grouped by the identities they mention (Dixon et al. 2018).

    Reads ``toxicity_<variant>_testset.csv`` (optionally gzipped; columns ``comment`` and ``toxic``
    True/False) from ``wiki_toxicity_dixon2018`` under the data root. The fuzzed set is the non-fuzzed one
    with its identity terms replaced at random by others. The file is one test set, so it is the train
    split here and the data module cuts validation and test from it (seeded by ``data.split_seed``,
    stratified by label and group). No hub copy.

    Args:
        data_root: the data root; default ``LIGHTNING_BIAS_DATA``.
        variant: ``nonfuzzed`` (default) or ``fuzzed``.
        group_by: ``mention`` or ``identity`` (``lightning_bias.data.sources.identity_grouping``).
        identity_terms: identity term list files; default the project's own list.
    """

    def __init__(
        self,
        data_root: str | None = None,
        variant: str = "nonfuzzed",
        group_by: str = "mention",
        identity_terms: Sequence[str] | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"data.source_options.variant: unknown variant {variant!r}; use one of {list(VARIANTS)}")
        self.data_root = data_root
        self.variant = variant
        self.grouping = IdentityGrouping(group_by, identity_terms)

    def load(self) -> LabelledSplits:
        root = data_root(self.data_root)
        if root is None:
            raise no_data_root("wiki_toxicity", FOLDERS)
        stem = f"toxicity_{self.variant}_testset"
        files = find_split_files(root, "wiki_toxicity", FOLDERS, {"train": stem}, ["train"], (".csv.gz", ".csv"))
        tables, where = read_split_files(files, "wiki_toxicity")
        return self.grouping.labelled_splits(tables, where, ("comment", "toxic"), LABEL_NAMES, "wiki_toxicity")
