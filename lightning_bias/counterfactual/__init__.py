"""The counterfactual engine: attribute-word swapping and scrubbing, and the one routine that augments rows.

>>> swapper = AttributeSwapper.from_options("gender")
>>> swapper.swap_with_count("He gave her John's book.")
("She gave him Mary's book.", 3)
>>> swapper.counterpart_groups(["female|black", "male|black"])
[1, 0]

``swap_subject_with_count`` swaps only the words about a text's subject (bios), and
``neutralize_with_count`` scrubs. :mod:`.accuracy` scores any of them against hand annotations of real
sentences (``tests/counterfactual/swap_annotations.jsonl``; figures in benchmarks/README.md).

:func:`augment` turns a batch of texts into counterfactual rows (copies, substitutions, in-place
rewrites) for fine-tuning CDA, corpus CDA, scrubbing and counterfactual evaluation. Word lists are
plain text files (format: :mod:`.wordlist_format`); the shipped ones live in
``lightning_bias/counterfactual/wordlists/``.
"""

from .augmentation import AugmentedRows, augment
from .swapper import AttributeSwapper
from .wordlist_format import OneWayRule, WordGroup, WordList, parse_word_list, read_word_list
from .wordlists import BUILTIN_ATTRIBUTES, builtin_name_files, builtin_term_files

__all__ = [
    "BUILTIN_ATTRIBUTES",
    "AttributeSwapper",
    "AugmentedRows",
    "OneWayRule",
    "WordGroup",
    "WordList",
    "augment",
    "builtin_name_files",
    "builtin_term_files",
    "parse_word_list",
    "read_word_list",
]
