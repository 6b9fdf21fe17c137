"""Behaviour of AttributeSwapper on hand-written lines: case, punctuation, possessives, pronouns, names, scrubbing,
group counterparts and the choice of lists from plugin options."""

from __future__ import annotations

import random

import pytest

from lightning_bias.counterfactual import (
    AttributeSwapper,
    WordList,
    builtin_name_files,
    builtin_term_files,
    read_word_list,
)


@pytest.fixture(scope="module")
def gender() -> AttributeSwapper:
    return AttributeSwapper.builtin("gender")


def swap(swapper: AttributeSwapper, text: str) -> str:
    return swapper.swap_with_count(text)[0]


def neutralize(swapper: AttributeSwapper, text: str, **replacements: str) -> str:
    return swapper.neutralize_with_count(text, **replacements)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # case is carried over
        ("he is here", "she is here"),
        ("He is here", "She is here"),
        ("HE IS HERE", "SHE IS HERE"),
        ("HIS CAR", "HER CAR"),
        ("His car", "Her car"),
        # punctuation and brackets stay where they are
        ("(he) said: 'she?'", "(she) said: 'he?'"),
        ("the man, the woman; the boy!", "the woman, the man; the girl!"),
        # possessives
        ("the king's sons", "the queen's daughters"),
        ("John's sister", "Mary's brother"),
        ("the father-in-law", "the mother-in-law"),
        # her -> his before a noun phrase, him otherwise
        ("her book", "his book"),
        ("her own mother", "his own father"),
        ("her first novel", "his first novel"),
        ("I saw her.", "I saw him."),
        ("I saw her", "I saw him"),
        ("gave her the keys", "gave him the keys"),
        ("told her that it was late", "told him that it was late"),
        ("let her go to her room", "let him go to his room"),
        ("He gave her John's book.", "She gave him Mary's book."),
        ("for her, and", "for him, and"),
        # his -> her before a noun phrase, hers otherwise; hers -> his; him -> her
        ("his car", "her car"),
        ("The book is his.", "The book is hers."),
        ("his was better", "hers was better"),
        ("the book is hers", "the book is his"),
        ("we met him yesterday", "we met her yesterday"),
        ("himself and herself", "herself and himself"),
        # titles keep their period
        ("Mr. Smith met Mrs. Jones and Ms. Lee", "Ms. Smith met Mr. Jones and Mr. Lee"),
        ("MR. SMITH", "MS. SMITH"),
        ("Yes, sir.", "Yes, madam."),
        # first names keep the case pattern, the list's spelling is canonical
        ("john and JOHN and John", "mary and MARY and Mary"),
        ("DeShawn met Keisha", "Shanice met Darnell"),
        # whole words only
        ("these shells are in the hemisphere of humanity", "these shells are in the hemisphere of humanity"),
        ("mankind, womanhood, manhood", "mankind, manhood, womanhood"),
        # no attribute word at all
        ("The committee approved the annual budget.", "The committee approved the annual budget."),
        ("", ""),
    ],
)
def test_gender_swap_exact_output(gender, text, expected):
    assert swap(gender, text) == expected


def test_line_without_attribute_words_is_returned_unchanged(gender):
    text = "Nothing to see in this line, 42 times."
    assert gender.swap_with_count(text) == (text, 0)


def test_counting(gender):
    text = "He told his sister that Mary's father left."
    swapped, count = gender.swap_with_count(text)
    assert swapped == "She told her brother that John's mother left."
    assert count == 5
    assert gender.swap_with_count("she and he")[1] == 2


def test_characters_whose_lower_case_changes_length_still_swap(gender):
    # "İ".lower() is two code points: the swapper keeps it in place when lowering, so matching stays aligned.
    text = "İstanbul: he met her there, then HIS brother"
    assert gender.swap_with_count(text) == ("İstanbul: she met him there, then HER sister", 4)
    assert gender.swap_with_count("İ he she") == ("İ she he", 2)
    assert gender.neutralize_with_count("İ he met Mr. Smith") == ("İ they met Smith", 2)


def test_swap_is_an_involution_on_unambiguous_text(gender):
    # Words whose counterpart maps back to them (two-way pairs): swapping twice restores the text.
    # Names with inner capitals (DeShawn) are left out: "Deshawn" would come back in its canonical spelling.
    def plain(word: str) -> bool:
        return word[1:] == word[1:].lower()

    mapping = gender.counterparts
    reversible = sorted(
        word
        for word, target in mapping.items()
        if isinstance(target, str)
        and plain(target)
        and isinstance(mapping.get(target.lower()), str)
        and mapping[target.lower()].lower() == word
        and plain(mapping[target.lower()])
        and word not in ("sir", "madam", "lady", "gentleman")  # before a name: "Sir X" -> "Dame Y", "Lady X" -> "Lord Y"
    )
    assert len(reversible) > 400
    filler = "the a of and to in was on with by at from that it for as is long very old new".split()
    rng = random.Random(0)
    for _ in range(300):
        words = []
        for _ in range(rng.randint(1, 15)):
            word = rng.choice(reversible) if rng.random() < 0.4 else rng.choice(filler)
            form = rng.choice([str.lower, str.upper, str.capitalize])
            # "'s" only on words whose counterpart's possessive keeps it: plural possessives change their
            # apostrophe ("ladies'" <-> "gentlemen's"), so they are not involutions
            suffixes = ["", "", ",", "."] + (["'s"] if not word.endswith(("s", "men")) else [])
            words.append(form(word) + rng.choice(suffixes))
        text = " ".join(words)
        assert swap(gender, swap(gender, text)) == text, text


def test_multi_word_terms_match_across_whitespace_and_keep_title_case():
    swapper = AttributeSwapper(
        [WordList.from_groups([("african american", "european american"), ("africa", "europe")])]
    )
    assert swap(swapper, "An African American woman") == "An European American woman"
    assert swap(swapper, "african  american\nvoters in Africa") == "european american\nvoters in Europe"
    assert swap(swapper, "AFRICAN AMERICAN") == "EUROPEAN AMERICAN"


# ---------------------------------------------------------------- triples (race, religion)


@pytest.mark.parametrize("attribute", ["race", "religion"])
def test_triples_map_within_their_group_deterministically_by_seed(attribute):
    first = AttributeSwapper.builtin(attribute, seed=3)
    again = AttributeSwapper.builtin(attribute, seed=3)
    assert dict(first.counterparts) == dict(again.counterparts)
    mappings = {
        tuple(sorted(AttributeSwapper.builtin(attribute, seed=seed).counterparts.items()))
        for seed in range(8)
    }
    assert len(mappings) > 1, "different seeds should give different random counterparts"
    group_of = {
        word: group.words
        for group in read_word_list(builtin_term_files(attribute)[0]).groups
        for word in group.words
    }
    assert len(group_of) == len(first.counterparts)
    for word, target in first.counterparts.items():
        assert target != word
        assert target in group_of[word], "every word maps to another word of its own line"


def test_triple_mapping_does_not_depend_on_line_order(tmp_path):
    lines = ["christian\tjewish\tmuslim", "church\tsynagogue\tmosque", "bible\ttorah\tquran"]
    forward = tmp_path / "forward.txt"
    forward.write_text("\n".join(lines))
    backward = tmp_path / "backward.txt"
    backward.write_text("\n".join(reversed(lines)))
    assert dict(AttributeSwapper.from_files(forward, seed=5).counterparts) == dict(
        AttributeSwapper.from_files(backward, seed=5).counterparts
    )


def test_religion_swap_uses_the_seeded_mapping():
    swapper = AttributeSwapper.builtin("religion", seed=1)
    mapping = swapper.counterparts
    expected = f"The {mapping['christian'].capitalize()} {mapping['church']}."
    assert swap(swapper, "The Christian church.") == expected


# ---------------------------------------------------------------- scrubbing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He said she liked his book.", "They said they liked their book."),
        ("I saw her. The book is his. It is hers.", "I saw them. The book is theirs. It is theirs."),
        ("Her brother helped himself.", "Their brother helped themselves."),
        ("Mr. John Smith met Mrs. Jones.", "_ Smith met Jones."),
        ("Sir Isaac and the lady agreed, sir.", "_ and the lady agreed, sir."),
        ("John's talk", "_'s talk"),
        ("HE and SHE", "THEY and THEY"),
        ("The weather was fine.", "The weather was fine."),
    ],
)
def test_neutralize_exact_output(gender, text, expected):
    assert neutralize(gender, text) == expected


def test_neutralize_replacements_are_configurable(gender):
    assert neutralize(gender, "Mary told her mother", name_replacement="[NAME]") == "[NAME] told their mother"
    assert neutralize(gender, "Mary told her mother", term_replacement="[X]") == "_ told their [X]"


def test_neutralize_touches_only_the_swappers_vocabulary():
    race = AttributeSwapper.builtin("race")
    assert neutralize(race, "He met Black voters.") == "He met Black voters."
    assert neutralize(race, "He met Black voters.", term_replacement="_") == "He met _ voters."


def test_neutralize_counts_every_attribute_word_it_found(gender):
    # titles removed, names and pronouns replaced, other terms kept: all are found words
    assert gender.neutralize_with_count("Mr. John Smith met his sister.") == ("_ Smith met their sister.", 4)
    assert gender.neutralize_with_count("The weather was fine.") == ("The weather was fine.", 0)


# ---------------------------------------------------------------- group labels


def test_counterpart_groups_of_plain_names(gender):
    assert gender.counterpart_groups(["female", "male"]) == [1, 0]
    assert gender.counterpart_groups(["Male", "FEMALE"]) == [1, 0]  # names compare case-insensitively
    with pytest.raises(ValueError, match="group 'nonbinary' contains no gender word"):
        gender.counterpart_groups(["male", "female", "nonbinary"])
    with pytest.raises(ValueError, match=r"group 'male' swaps to 'female', which is not one of the groups \['male', 'other'\]"):
        gender.counterpart_groups(["male", "other"])


def test_counterpart_groups_of_intersectional_names_swap_only_the_attribute_part(gender):
    names = ["male|black", "male|white", "female|black", "female|white"]
    assert gender.counterpart_groups(names) == [2, 3, 0, 1]
    race = AttributeSwapper.builtin("race", seed=0)
    black_counterpart = race.counterpart_groups(["black", "white", "asian"])[0]
    assert black_counterpart in (1, 2)
    with pytest.raises(ValueError, match=r"group 'male\|black' swaps to 'female\|black', which is not one of the groups"):
        gender.counterpart_groups(["male|black", "female|white"])


def test_builtin_rejects_unknown_attribute():
    with pytest.raises(ValueError, match="no built-in word lists for attribute 'age'"):
        AttributeSwapper.builtin("age")


# ---------------------------------------------------------------- the lists that plugin options name


def test_from_options_picks_builtin_or_user_lists(tmp_path):
    assert AttributeSwapper.from_options().vocabulary == AttributeSwapper.builtin("gender").vocabulary
    without_names = AttributeSwapper.from_options("gender", include_names=False)
    assert not without_names.names and swap(without_names, "John met her") == "John met him"
    religion = AttributeSwapper.from_options("religion", seed=4)
    assert dict(religion.counterparts) == dict(AttributeSwapper.builtin("religion", seed=4).counterparts)
    terms, names = tmp_path / "pets.txt", tmp_path / "pet_names.txt"
    terms.write_text("cat\tdog\n")
    names.write_text("Tom\tRex\n")
    custom = AttributeSwapper.from_options("pets", term_files=[terms], name_files=[names])
    assert custom.attribute == "pets" and custom.names == frozenset({"tom", "rex"})
    assert swap(custom, "Tom the cat") == "Rex the dog"


@pytest.mark.parametrize(("options", "needle"), [
    ({"attribute": "age"}, "no built-in word lists for attribute 'age'; choose one of"),
    ({"name_files": ["names.txt"]}, "name_files is only used together with term_files"),
])
def test_from_options_rejects_bad_choices(options, needle):
    with pytest.raises(ValueError, match=needle):
        AttributeSwapper.from_options(**options)


# ---------------------------------------------------------------- errors measured on real text (issue 13)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "her" as an object before an adjective or a bare verb, and after causative verbs
        ("It made her happy.", "It made him happy."),
        ("They watched her sing.", "They watched him sing."),
        ("It makes her look professional.", "It makes him look professional."),
        ("He would not let her talk", "She would not let him talk"),
        ("He saw her leaving.", "She saw him leaving."),
        # ... and a determiner before a modified noun
        ("her happy childhood", "his happy childhood"),
        ("her most famous role", "his most famous role"),
        ("She made her debut.", "He made his debut."),
        # "his" becomes "hers" only where it stands alone
        ("His only appearance was his best.", "Her only appearance was her best."),
        ("He does his best to help.", "She does her best to help."),
        ("his later years", "her later years"),
        ("his well-known novel", "her well-known novel"),
        ("The book is his, and his was better.", "The book is hers, and hers was better."),
        # plural possessives
        ("the ladies' lounge and the gentlemen's club", "the gentlemen's lounge and the ladies' club"),
        ("James' car", "Patricia's car"),
        # first names inside place and institution names, and surnames, stay
        ("He moved to San Francisco and St. Mary's Hospital.", "She moved to San Francisco and St. Mary's Hospital."),
        ("She studied at George Washington University.", "He studied at George Washington University."),
        ("songs by Bob Dylan and D. H. Lawrence", "songs by Bob Dylan and D. H. Lawrence"),
        ("Michael Cole met Nancy Carolyn Martin's son.", "Linda Cole met Daniel Patrick Martin's daughter."),
        # gendered words inside the names of organisations and works stay; person titles change
        ("a grant from the Office on Violence Against Women", "a grant from the Office on Violence Against Women"),
        ("He studied at Duke University.", "She studied at Duke University."),
        ("Nero became Emperor.", "Nero became Empress."),
        ("He holds an MS in Nursing.", "She holds an MS in Nursing."),
        ("Sir Robert Lorimer", "Dame Jennifer Lorimer"),
    ],
)
def test_swaps_measured_wrong_on_real_text(gender, text, expected):
    assert swap(gender, text) == expected


def test_unlisted_first_names_after_a_title_get_a_fixed_counterpart_of_the_other_gender(gender):
    female_names = {group.words[1] for group in read_word_list(builtin_name_files("gender")[0]).groups}
    text = "Dr. Xyla Qorvan practices in Pune; Dr.Xyla's clinic. She completed BDS."
    swapped, count = gender.swap_with_count(text)
    counterpart = swapped.split()[1]
    assert counterpart in {group.words[0] for group in read_word_list(builtin_name_files("gender")[0]).groups}
    assert swapped == f"Dr. {counterpart} Qorvan practices in Pune; Dr.{counterpart}'s clinic. He completed BDS."
    assert count == 3 and swap(gender, text) == swapped  # the same counterpart every time
    assert swap(gender, "Mr. Zorvek Brandt left.").split()[1] in female_names  # the title tells the gender
    # Dr without subject pronouns (or with a tie) tells no gender: the unlisted name stays
    assert gender.swap_with_count("Dr. Xyla Qorvan practices.") == ("Dr. Xyla Qorvan practices.", 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She is based in Ohio.", "They are based in Ohio."),
        ("He also works as a nurse; she currently teaches.", "They also work as a nurse; they currently teach."),
        ("She studies and he goes; she does; he has; she wasn't.",
         "They study and they go; they do; they have; they weren't."),
        ("She's been there and he's here.", "They've been there and they're here."),
        ("He said she was late.", "They said they were late."),
        ("He moved to San Francisco.", "They moved to San Francisco."),
        ("Dr. Aparna Sharma practices here. She completed BDS.", "Dr. _ Sharma practices here. They completed BDS."),
    ],
)
def test_neutralize_keeps_verbs_in_agreement_and_places_intact(gender, text, expected):
    assert neutralize(gender, text) == expected


# ---------------------------------------------------------------- subject-only swap (bios)


@pytest.mark.parametrize(
    ("text", "expected", "swapped"),
    [
        # relatives and words of the other gender are third parties: they keep their gender
        ("She lives with her husband Dr. Patrick Gannon; she is an actress.",
         "He lives with his husband Dr. Patrick Gannon; he is an actor.", 4),
        ("Dr. Xyla Sharma works with Dr. Rohan Mehta. She trained him and she thanked his team.", None, 3),
        # plural nouns name groups, not the subject
        ("He treats men and women; his wife Mary helps him.", "She treats men and women; her wife Mary helps her.", 3),
        # no pronoun majority: every word is swapped
        ("John met Mary.", "Mary met John.", 2),
    ],
)
def test_subject_swap_keeps_third_parties(gender, text, expected, swapped):
    result, count = gender.swap_subject_with_count(text)
    assert count == swapped
    if expected is not None:
        assert result == expected
    else:  # the subject's unlisted name gets a male counterpart; Rohan, "him" and "his" (male) stay
        assert result.startswith("Dr. ") and "Xyla" not in result
        assert result.endswith("Sharma works with Dr. Rohan Mehta. He trained him and he thanked his team.")
