"""Counterfactual word swapping for data augmentation (CDA), scrubbing and counterfactual evaluation.

>>> swapper = AttributeSwapper.builtin("gender")
>>> swapper.swap("He gave her John's book.")
"She gave him Mary's book."

Word lists are plain text files (format: :mod:`.wordlist_format`); the shipped ones live in
``lightning_bias/counterfactual/wordlists/``.
"""

from .swapper import AttributeSwapper
from .wordlist_format import OneWayRule, WordGroup, WordList, parse_word_list, read_word_list
from .wordlists import BUILTIN_ATTRIBUTES, builtin_name_files, builtin_term_files

__all__ = [
    "BUILTIN_ATTRIBUTES",
    "AttributeSwapper",
    "OneWayRule",
    "WordGroup",
    "WordList",
    "builtin_name_files",
    "builtin_term_files",
    "parse_word_list",
    "read_word_list",
]
