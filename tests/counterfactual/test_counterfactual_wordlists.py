"""Word-list files: the format, errors on malformed lists, and the coverage of the built-in lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA  # noqa: E402

from lightning_bias.counterfactual import (
    AttributeSwapper,
    WordList,
    builtin_name_files,
    builtin_term_files,
    parse_word_list,
    read_word_list,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_format_groups_rules_comments_and_blank_lines(tmp_path):
    path = _write(
        tmp_path,
        "pairs.txt",
        "# a comment\n\nhe\tshe\n  king \t queen \nmrs\t=>\tmr\nher\t=>\this|him\nfather in law\tmother in law\n",
    )
    word_list = read_word_list(path)
    assert [group.words for group in word_list.groups] == [
        ("he", "she"),
        ("king", "queen"),
        ("father in law", "mother in law"),
    ]
    assert [(rule.word, rule.targets) for rule in word_list.rules] == [
        ("mrs", ("mr",)),
        ("her", ("his", "him")),
    ]
    assert word_list.groups[1].source == f"{path}:4"
    swapper = AttributeSwapper.from_files(path)
    assert swapper.swap_with_count("Mrs. King met her father in law")[0] == "Mr. Queen met his mother in law"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("he\tshe\nking\n", 2, "found one column 'king'; separate counterpart words with a TAB"),
        ("he she\n", 1, "found one column"),
        ("he\tshe\nking\tqueen\tprince\n", 2, "wrong column count: 3 words, but line 1 has 2"),
        ("he\t\tshe\n", 1, "empty word in column 2"),
        ("he\tshe\t\n", 1, "empty word in column 3"),
        ("mr.\tms\n", 1, "'mr.' in column 1 is not a valid word"),
        ("he\the\n", 1, "the same word appears twice in one group"),
        ("mrs\t=>\tmr\tms\n", 1, "a one-way rule has exactly three columns"),
        ("mrs\tmr\t=>\n", 1, "a one-way rule has exactly three columns"),
        ("her\t=>\this|him|them\n", 1, "one target or two alternatives"),
        ("her\t=>\this|\n", 1, "empty word in column 3"),
    ],
)
def test_malformed_lines_raise_with_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(ValueError, match="bad.txt:" + str(line) + ": .*") as error:
        read_word_list(path)
    assert message in str(error.value)


def test_conflicting_duplicate_names_both_lines(tmp_path):
    path = _write(tmp_path, "dup.txt", "he\tshe\nhim\ther\nhis\ther\n")
    with pytest.raises(ValueError) as error:
        AttributeSwapper.from_files(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3: conflicting entry for 'her'")
    assert f"{path}:2" in message


def test_conflicts_across_files_and_between_rules_and_groups(tmp_path):
    first = _write(tmp_path, "first.txt", "mr\tms\n")
    second = _write(tmp_path, "second.txt", "mr\tmrs\n")
    with pytest.raises(ValueError, match=f"second.txt:1: conflicting entry for 'mr'.*{first}:1"):
        AttributeSwapper.from_files(first, second)
    rule_file = _write(tmp_path, "rule.txt", "mr\tms\nmr\t=>\tmrs\n")
    with pytest.raises(ValueError, match="rule.txt:2: conflicting entry for 'mr'"):
        AttributeSwapper.from_files(rule_file)
    names = _write(tmp_path, "names.txt", "Ms\tMr\n")
    with pytest.raises(ValueError, match="names.txt:1: conflicting entry for 'Ms'"):
        AttributeSwapper.from_files(first, name_files=[names])


def test_repeated_identical_entries_are_accepted(tmp_path):
    path = _write(tmp_path, "repeat.txt", "he\tshe\nHe\tShe\nmrs\t=>\tmr\nmrs\t=>\tmr\n")
    swapper = AttributeSwapper.from_files(path, path)
    assert swapper.swap_with_count("he met mrs Smith")[0] == "she met mr Smith"


def test_missing_empty_and_undecodable_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_word_list(tmp_path / "missing.txt")
    empty = _write(tmp_path, "empty.txt", "# only a comment\n")
    with pytest.raises(ValueError, match="contain no entries"):
        AttributeSwapper.from_files(empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("jos\xe9\tmar\xeda\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not valid UTF-8"):
        read_word_list(latin1)
    with pytest.raises(ValueError, match="needs at least one word-list path"):
        AttributeSwapper.from_files()


def test_word_lists_from_python_data_are_validated_the_same_way():
    swapper = AttributeSwapper(
        [
            WordList.from_groups([("he", "she")], rules=[("her", ("his", "him"))]),
            WordList.from_groups([("Ali", "Leila")], is_names=True),
        ]
    )
    assert swapper.swap_with_count("Ali saw her")[0] == "Leila saw him"
    assert swapper.names == frozenset({"ali", "leila"})
    with pytest.raises(ValueError, match="<python>:1: empty word in column 2"):
        WordList.from_groups([("he", "")])


def test_unicode_words_match_whole_words_only():
    swapper = AttributeSwapper([WordList.from_groups([("José", "María")], is_names=True)])
    assert swapper.swap_with_count("José y JOSÉ, no Josélito")[0] == "María y MARÍA, no Josélito"
    assert parse_word_list("é\tè", source="<s>").groups[0].words == ("é", "è")


# ---------------------------------------------------------------- the shipped lists


def test_builtin_gender_lists_have_enough_pairs():
    terms = read_word_list(builtin_term_files("gender")[0])
    names = read_word_list(builtin_name_files("gender")[0], is_names=True)
    assert len(terms.groups) >= 80
    assert all(len(group.words) == 2 for group in terms.groups)
    assert len(names.groups) >= 100
    swapper = AttributeSwapper.builtin("gender")
    assert len(swapper.names) == 2 * len(names.groups)
    without_names = AttributeSwapper.builtin("gender", include_names=False)
    assert without_names.swap_with_count("John met her")[0] == "John met him"


@pytest.mark.parametrize("attribute", ["race", "religion"])
def test_builtin_race_and_religion_lists_are_triples(attribute):
    word_list = read_word_list(builtin_term_files(attribute)[0])
    assert len(word_list.groups) >= 8
    assert all(len(group.words) == 3 for group in word_list.groups)
    assert builtin_name_files(attribute) == []


def test_builtin_gender_list_covers_common_reference_pairs():
    reference = SHARED_DATA / "gender_word_lists" / "bias_attribute_words.json"
    if not reference.exists():
        pytest.skip(f"reference word lists not found at {reference} (see shared/data/README.md)")
    pairs = json.loads(reference.read_text())["gender"]
    vocabulary = AttributeSwapper.builtin("gender").vocabulary
    words = {word.rstrip(".") for pair in pairs for word in pair}
    covered = {word for word in words if word in vocabulary}
    assert len(covered) / len(words) >= 0.85, sorted(words - covered)


def test_every_first_name_of_the_synthetic_bios_generator_swaps_to_the_other_gender():
    # Scrubbing and CDA of the synthetic bios rely on it: a name missing from the lists keeps its gender.
    from lightning_bias.data.synthetic_bios import bios_vocabulary

    pairs = read_word_list(builtin_name_files("gender")[0], is_names=True).groups
    male = {group.words[0].lower() for group in pairs}  # the file's columns are male<TAB>female
    female = {group.words[1].lower() for group in pairs}
    counterparts = AttributeSwapper.builtin("gender").counterparts
    generator = bios_vocabulary().first_names
    for group, other in (("male", female), ("female", male)):
        missing = [name for name in generator[group] if counterparts.get(name.lower(), "").lower() not in other]
        assert not missing, f"{group} generator names without a counterpart of the other gender: {missing}"
