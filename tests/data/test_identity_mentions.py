"""Identity-term lists and matching, and the grouping policy built on them (``group_by: mention | identity``)."""

from __future__ import annotations

import pytest
from conftest import shared_data

from lightning_bias.data.identity_mentions import (
    PROJECT_TERM_LIST,
    IdentityTermMatcher,
    load_term_lists,
    read_term_list,
)
from lightning_bias.data.sources.identity_grouping import IdentityGrouping, family_groups

OPTION = "data.source_options.identity_terms"


def mentioned_terms(matcher: IdentityTermMatcher, text: str) -> list[str]:
    return [matcher.terms[i].term for i in matcher.mentioned(text)]


@pytest.fixture(scope="module")
def matcher():
    return IdentityTermMatcher(load_term_lists(None, OPTION))


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("I am a GAY man", ["man", "gay"]),  # case does not matter
        ("proud to be gay, and #gay!", ["gay"]),  # punctuation around a word; each term once
        ("a gay-friendly bar", ["gay"]),  # a hyphen separates words
        ("the Muslim's house; muslims pray", ["muslim"]),  # possessive and plural in -s
        ("an African-American writer", ["african", "african american", "american"]),  # multi-word through a hyphen
        ("public transport in a gayety", []),  # no match inside a word
        ("two women and the Senior Citizens", ["women", "senior citizen"]),  # irregular plural; a phrase's plural
        ("", []),
    ],
)
def test_matching_ignores_case_and_punctuation_but_not_word_boundaries(matcher, text, terms):
    assert sorted(mentioned_terms(matcher, text)) == sorted(terms)


def test_families_of_a_text(matcher):
    assert matcher.families("a Jewish woman and a muslim man") == {"religion", "gender"}
    assert matcher.families("nothing here") == frozenset()


def test_the_project_list_has_eight_families_and_no_duplicate_term():
    terms = read_term_list(PROJECT_TERM_LIST, OPTION)
    assert list(dict.fromkeys(t.family for t in terms)) == [
        "gender", "sexual_orientation", "gender_identity", "race_ethnicity", "religion", "nationality", "age",
        "disability",
    ]
    assert len({t.words for t in terms}) == len(terms)


def test_a_user_list_names_families_by_column_or_by_file(tmp_path):
    path = tmp_path / "my_terms.tsv"
    path.write_text("# comment\n\nqueer\tsexual_orientation\nmuslim\t3.16\nNon-Binary\n")
    terms = read_term_list(path, OPTION)
    assert [(t.term, t.family, t.words) for t in terms] == [
        ("queer", "sexual_orientation", ("queer",)),
        ("muslim", "my_terms", ("muslim",)),  # a number is a weight, not a family
        ("Non-Binary", "my_terms", ("non", "binary")),
    ]


def test_the_shared_term_lists_read_as_user_lists():
    folder = ("hate_speech_identity_terms", "identity_term_lists")
    identity = read_term_list(shared_data(*folder, "identity.csv"), OPTION)
    weighted = read_term_list(shared_data(*folder, "identity_gab.csv"), OPTION)
    assert len(identity) == 50 and {t.family for t in identity} == {"identity"}
    assert len(weighted) == 25 and weighted[0].term == "muslim" and weighted[0].family == "identity_gab"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("\n# only a comment\n", "holds no term"), ("gay\n!!!\tfamily\n", "line 2")],
)
def test_bad_term_lists_name_the_option_and_the_file(tmp_path, content, message):
    path = tmp_path / "terms.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_term_list(path, OPTION)
    assert OPTION in str(error.value) and str(path) in str(error.value)


def test_mention_policy_gives_mention_and_no_mention():
    names, groups = IdentityGrouping("mention").groups({"train": ["a gay man", "a cat"], "test": ["a dog"]}, "toy")
    assert names == ["no_mention", "mention"]
    assert groups == {"train": ["mention", "no_mention"], "test": ["no_mention"]}


def test_identity_policy_gives_families_none_and_multiple_and_warns_about_unused_families():
    texts = {"train": ["a jewish woman and a gay man", "two women", "a mosque", "muslims and jews"]}
    with pytest.warns(UserWarning, match=r"families left out of the groups: \[.*'age'.*\] \(no text concerns them\); "
                      r"\['sexual_orientation'\] \(only texts that also concern another family") as caught:
        names, groups = IdentityGrouping("identity").groups(texts, "toy")
    assert len(caught) == 1
    assert names == ["gender", "religion", "none", "multiple"]  # families in list order, then none, multiple
    assert groups["train"] == ["multiple", "gender", "none", "religion"]  # two terms of one family: that family


def test_family_groups_leave_out_none_and_multiple_when_no_row_falls_in_them():
    names, groups = family_groups({"train": [frozenset({"a"}), frozenset({"b"})]}, ["a", "b"], "toy")
    assert names == ["a", "b"] and groups == {"train": ["a", "b"]}


def test_a_term_list_that_matches_nothing_is_an_error(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("zyzzyva\n")
    with pytest.raises(ValueError, match=r"no text of toy mentions any of the 1 terms") as error:
        IdentityGrouping("mention", [str(path)]).groups({"train": ["a gay man"]}, "toy")
    assert OPTION in str(error.value) and str(path) in str(error.value)


def test_one_list_of_several_that_matches_nothing_is_a_warning(tmp_path):
    (tmp_path / "used.txt").write_text("gay\n")
    (tmp_path / "unused.txt").write_text("zyzzyva\n")
    lists = [str(tmp_path / "used.txt"), str(tmp_path / "unused.txt")]
    with pytest.warns(UserWarning, match="unused.txt") as caught:
        names, _ = IdentityGrouping("identity", lists).groups({"train": ["a gay man", "a cat"]}, "toy")
    assert len(caught) == 1  # its family is not named again as a family no text concerns
    assert names == ["used", "none"]  # the unused list's family is no group


def test_unknown_policy_names_the_option():
    with pytest.raises(ValueError, match=r"data.source_options.group_by: unknown policy 'families'"):
        IdentityGrouping("families")
