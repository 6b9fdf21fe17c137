"""Synthetic professional biographies: the built-in dataset and controlled testbed of the study.

Each example is a short biography (one to three sentences, in the style of BiasBios) whose label
is the person's occupation and whose group is their gender (0 = ``"male"``, 1 = ``"female"``).
The generator controls exactly the two things the study varies:

* **Co-occurrence.** ``female_rate`` sets P(female | occupation). The number of female bios of an
  occupation with ``n`` bios is exactly ``round(rate * n)`` (Python's ``round``, halves to even),
  not a Bernoulli draw; rows are then shuffled by the seed. Presets: ``"stereotypical"``
  (:data:`STEREOTYPICAL_FEMALE_RATE`) and ``"balanced"`` (0.5 everywhere).
* **How much gender is worth to a classifier.** Occupations come in families of two that share
  vocabulary (workplaces, duties, topics, degrees, titles); every bio carries its family cue.
  A bio carries its *occupation cue* (an occupation name such as "a registered nurse", a duty,
  specialty, credential or title only that occupation uses) unless it is one of the
  ``ambiguity`` share of bios that lack it: those are filled from the family's shared vocabulary
  only, so nothing but gender tells e.g. a nurse from a surgeon. The two occupations of each
  family are skewed in opposite directions in the stereotypical preset, so a classifier trained
  on skewed co-occurrence learns to lean on gender, and balanced co-occurrence removes that pull.
  The share of cue-less bios is exact too: ``round(ambiguity * n)`` in every (occupation, gender)
  cell.

Gender is signalled by pronouns, honorifics (Mr., Ms., Mrs.) and first names; the academic
titles Dr. and Prof. are gender neutral, so in some bios only the pronouns or the first name
carry it. Every bio has at least one gender signal and never one of the other gender.

The word lists and the 52 templates live in ``bios_vocabulary/`` next to this module (written
for this project; no dataset sentences). Generation is deterministic given ``seed`` and uses
only Python's ``random.Random``, whose draws are stable across platforms and versions.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

GROUP_NAMES: tuple[str, str] = ("male", "female")
"""Group ids: 0 = male, 1 = female."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "medical": ("nurse", "surgeon"),
    "legal": ("attorney", "paralegal"),
    "tech": ("software engineer", "data scientist"),
    "education": ("teacher", "professor"),
    "design": ("architect", "interior designer"),
    "media": ("journalist", "photographer"),
    "finance": ("accountant", "financial advisor"),
    "food": ("chef", "dietitian"),
}
"""Occupation families: occupations of one family share all family-level vocabulary."""

OCCUPATIONS: tuple[str, ...] = tuple(occupation for members in FAMILIES.values() for occupation in members)
"""All occupations, family by family; the default label order."""

OCCUPATION_FAMILY: dict[str, str] = {
    occupation: family for family, members in FAMILIES.items() for occupation in members
}

STEREOTYPICAL_FEMALE_RATE: dict[str, float] = {
    # Approximate shares of women among employed people in the nearest US Bureau of Labor Statistics
    # (Current Population Survey, annual averages of the early 2020s) occupation category, rounded.
    "nurse": 0.88,  # registered nurses
    "surgeon": 0.25,  # surgeons
    "attorney": 0.39,  # lawyers
    "paralegal": 0.85,  # paralegals and legal assistants
    "software engineer": 0.20,  # software developers
    "data scientist": 0.38,  # data scientists
    "teacher": 0.75,  # elementary, middle and secondary school teachers together
    "professor": 0.47,  # postsecondary teachers
    "architect": 0.28,  # architects, except landscape and naval
    "interior designer": 0.86,  # interior designers
    "journalist": 0.50,  # news analysts, reporters and journalists
    "photographer": 0.45,  # photographers
    "accountant": 0.57,  # accountants and auditors
    "financial advisor": 0.33,  # personal financial advisors
    "chef": 0.22,  # chefs and head cooks
    "dietitian": 0.90,  # dietitians and nutritionists
}
"""P(female | occupation) of the ``"stereotypical"`` preset (approximate US BLS shares, see comments).

Six families pair a female-skewed with a male-skewed occupation (nurse/surgeon, paralegal/attorney,
teacher/professor, interior designer/architect, accountant/financial advisor, dietitian/chef); tech
pairs two male-skewed occupations of different strength, and media is a near-balanced control family.
"""

FEMALE_RATE_PRESETS: dict[str, dict[str, float]] = {
    "stereotypical": STEREOTYPICAL_FEMALE_RATE,
    "balanced": dict.fromkeys(OCCUPATIONS, 0.5),
}

_VOCABULARY_DIR = Path(__file__).with_name("bios_vocabulary")
_PERSON_SLOTS = frozenset({"name", "ref"})
_PRONOUN_SLOTS = frozenset({"Subj", "subj", "obj", "Poss", "poss", "refl"})
_OCCUPATION_SLOTS = frozenset({"role", "duty", "specialty", "credential"})
_FAMILY_SLOTS = frozenset({"workplace", "field", "family_duty", "family_topic"})
_NEUTRAL_SLOTS = frozenset({"city", "school", "hobby", "years"})
_TEMPLATE_SLOTS = _PERSON_SLOTS | _PRONOUN_SLOTS | _OCCUPATION_SLOTS | _FAMILY_SLOTS | _NEUTRAL_SLOTS
_PRONOUNS = {
    "male": {"Subj": "He", "subj": "he", "obj": "him", "Poss": "His", "poss": "his", "refl": "himself"},
    "female": {"Subj": "She", "subj": "she", "obj": "her", "Poss": "Her", "poss": "her", "refl": "herself"},
}
_HONORIFICS = {"male": ("Mr.",), "female": ("Ms.", "Ms.", "Mrs.")}  # Ms. twice as often as Mrs.
_YEARS_RANGE = (3, 25)


# --------------------------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class FamilyVocabulary:
    """Phrases every occupation of a family shares (the family cue)."""

    fields: tuple[str, ...]
    roles: tuple[str, ...]
    workplaces: tuple[str, ...]
    duties: tuple[str, ...]
    topics: tuple[str, ...]
    credentials: tuple[str, ...]
    titles: tuple[str, ...]

    def phrases(self) -> tuple[str, ...]:
        """Every family-level phrase (the titles included)."""
        return (
            self.fields
            + self.roles
            + self.workplaces
            + self.duties
            + self.topics
            + self.credentials
            + self.titles
        )


@dataclass(frozen=True)
class OccupationVocabulary:
    """Phrases only one occupation uses (its occupation cue)."""

    roles: tuple[str, ...]
    duties: tuple[str, ...]
    specialties: tuple[str, ...]
    credentials: tuple[str, ...]
    titles: tuple[str, ...]

    def phrases(self) -> tuple[str, ...]:
        """Every occupation-specific phrase (the titles included)."""
        return self.roles + self.duties + self.specialties + self.credentials + self.titles


@dataclass(frozen=True)
class BioTemplate:
    """One template: its text, the slots it uses and whether it has a pronoun."""

    text: str
    slots: frozenset[str]

    @property
    def has_pronoun(self) -> bool:
        return bool(self.slots & _PRONOUN_SLOTS)


@dataclass(frozen=True)
class BiosVocabulary:
    """Everything the generator draws from, read from ``bios_vocabulary/``."""

    templates: tuple[BioTemplate, ...]
    first_names: dict[str, tuple[str, ...]]  # by group name
    surnames: tuple[str, ...]
    families: dict[str, FamilyVocabulary]
    occupations: dict[str, OccupationVocabulary]
    cities: tuple[str, ...]
    schools: tuple[str, ...]
    hobbies: tuple[str, ...]


def _read_lines(name: str) -> tuple[str, ...]:
    lines = (_VOCABULARY_DIR / name).read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _parse_template(text: str, line: int) -> BioTemplate:
    where = f"{_VOCABULARY_DIR / 'templates.txt'}, template {line}"
    slots = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    unknown = sorted(set(slots) - _TEMPLATE_SLOTS)
    if unknown:
        raise ValueError(f"{where}: unknown slots {unknown}; use slots among {sorted(_TEMPLATE_SLOTS)}")
    if slots.count("name") != 1:
        raise ValueError(f"{where}: needs the slot {{name}} exactly once, found {slots.count('name')}")
    if not set(slots) & _OCCUPATION_SLOTS or not set(slots) & _FAMILY_SLOTS:
        raise ValueError(
            f"{where}: needs at least one occupation slot {sorted(_OCCUPATION_SLOTS)} and one family slot "
            f"{sorted(_FAMILY_SLOTS)}, so every bio can carry both cues"
        )
    sentences = len(re.findall(r"[.!?](?:\s|$)", text))
    if not 1 <= sentences <= 3:
        raise ValueError(f"{where}: has {sentences} sentences; bios have one to three")
    return BioTemplate(text=text, slots=frozenset(slots))


def _check_vocabulary(vocabulary: BiosVocabulary) -> None:
    """Guard the properties the generator relies on; raises ValueError naming the offending entry."""
    where = _VOCABULARY_DIR
    if set(vocabulary.families) != set(FAMILIES) or set(vocabulary.occupations) != set(OCCUPATIONS):
        raise ValueError(
            f"{where / 'occupations.json'}: families {sorted(vocabulary.families)} and occupations "
            f"{sorted(vocabulary.occupations)} must match FAMILIES in {__name__}"
        )
    for family, words in vocabulary.families.items():
        for kind in ("fields", "roles", "workplaces", "credentials"):
            if not getattr(words, kind):
                raise ValueError(f"{where / 'occupations.json'}: family {family!r} has no {kind}")
        for kind in ("duties", "topics"):  # two distinct ones fill a bio lacking its occupation cue
            if len(getattr(words, kind)) < 2:
                raise ValueError(f"{where / 'occupations.json'}: family {family!r} needs at least two {kind}")
    for occupation, words in vocabulary.occupations.items():
        for kind in ("roles", "duties", "specialties", "credentials"):
            if not getattr(words, kind):
                raise ValueError(f"{where / 'occupations.json'}: occupation {occupation!r} has no {kind}")
    owners: dict[str, str] = {}
    sources = [
        (f"family {f!r}", [p for p in v.phrases() if p not in v.titles])
        for f, v in vocabulary.families.items()
    ]
    sources += [
        (f"occupation {o!r}", [p for p in v.phrases() if p not in v.titles])
        for o, v in vocabulary.occupations.items()
    ]
    for owner, phrases in sources:  # titles may repeat across families (Dr.), other phrases may not
        for phrase in phrases:
            if owners.setdefault(phrase, owner) != owner:
                raise ValueError(
                    f"{where / 'occupations.json'}: phrase {phrase!r} appears under {owners[phrase]} and {owner}; "
                    "cue phrases must be unique so cues can be told apart"
                )
    for occupation, words in vocabulary.occupations.items():
        shared = set(words.titles) & set(vocabulary.families[OCCUPATION_FAMILY[occupation]].titles)
        if shared:
            raise ValueError(
                f"{where / 'occupations.json'}: occupation {occupation!r} lists titles {sorted(shared)} that its "
                "family already uses; occupation titles must be ones only this occupation uses"
            )
    male, female = set(vocabulary.first_names["male"]), set(vocabulary.first_names["female"])
    for clash, files in [
        (male & female, "first_names_male.txt and first_names_female.txt"),
        ((male | female) & set(vocabulary.surnames), "the first-name files and surnames.txt"),
    ]:
        if clash:
            raise ValueError(
                f"{where}: names {sorted(clash)} appear in both {files}; a name must signal one thing"
            )


@cache
def bios_vocabulary() -> BiosVocabulary:
    """The templates and word lists of the generator (read once, validated, then cached)."""
    occupations_file = json.loads((_VOCABULARY_DIR / "occupations.json").read_text(encoding="utf-8"))
    shared = json.loads((_VOCABULARY_DIR / "shared.json").read_text(encoding="utf-8"))
    vocabulary = BiosVocabulary(
        templates=tuple(_parse_template(text, i) for i, text in enumerate(_read_lines("templates.txt"))),
        first_names={
            "male": _read_lines("first_names_male.txt"),
            "female": _read_lines("first_names_female.txt"),
        },
        surnames=_read_lines("surnames.txt"),
        families={
            name: FamilyVocabulary(**{k: tuple(v) for k, v in words.items()})
            for name, words in occupations_file["families"].items()
        },
        occupations={
            name: OccupationVocabulary(**{k: tuple(v) for k, v in words.items()})
            for name, words in occupations_file["occupations"].items()
        },
        cities=tuple(shared["cities"]),
        schools=tuple(shared["schools"]),
        hobbies=tuple(shared["hobbies"]),
    )
    _check_vocabulary(vocabulary)
    return vocabulary


def occupation_cue_phrases(occupation: str) -> tuple[str, ...]:
    """The phrases that reveal ``occupation`` (names, duties, specialties, credentials, titles)."""
    _check_occupation_names([occupation], "occupation")
    return bios_vocabulary().occupations[occupation].phrases()


def family_cue_phrases(family: str) -> tuple[str, ...]:
    """The phrases every occupation of ``family`` shares (fields, roles, workplaces, duties, ...)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is unknown; choose one of {sorted(FAMILIES)}")
    return bios_vocabulary().families[family].phrases()


# --------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class SyntheticBios:
    """Generated biographies, row-aligned lists.

    ``texts[i]`` is a bio, ``labels[i]`` indexes ``label_names`` (the occupations),
    ``groups[i]`` indexes ``group_names`` (``GROUP_NAMES``), ``has_occupation_cue[i]`` says whether
    the bio names or describes its occupation (False: only the family cue and gender are left),
    ``template_ids[i]`` is the line of the template among ``bios_vocabulary().templates``.
    """

    texts: list[str]
    labels: list[int]
    groups: list[int]
    label_names: list[str]
    group_names: list[str]
    has_occupation_cue: list[bool]
    template_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def cooccurrence(self) -> dict[str, dict[str, float]]:
        """The realised P(group | occupation) table; see :func:`cooccurrence_table`."""
        return cooccurrence_table(self.labels, self.groups, self.label_names, self.group_names)

    def to_dataset(self) -> datasets.Dataset:
        """A ``datasets.Dataset`` with columns ``text`` (string), ``label`` and ``group`` (``ClassLabel``
        carrying ``label_names`` / ``group_names``) and ``has_occupation_cue`` (bool)."""
        import datasets

        features = datasets.Features(
            {
                "text": datasets.Value("string"),
                "label": datasets.ClassLabel(names=list(self.label_names)),
                "group": datasets.ClassLabel(names=list(self.group_names)),
                "has_occupation_cue": datasets.Value("bool"),
            }
        )
        columns = {
            "text": self.texts,
            "label": self.labels,
            "group": self.groups,
            "has_occupation_cue": self.has_occupation_cue,
        }
        return datasets.Dataset.from_dict(columns, features=features)


def cooccurrence_table(
    labels: Sequence[int], groups: Sequence[int], label_names: Sequence[str], group_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The realised co-occurrence of groups with labels.

    Returns ``{label_name: {group_name: P(group | label) for every group, "count": n_label,
    "count_<group_name>": n_label_group for every group}}``; a label with no rows has NaN rates.
    """
    if len(labels) != len(groups):
        raise ValueError(
            f"cooccurrence_table: {len(labels)} labels but {len(groups)} groups; pass row-aligned lists"
        )
    counts = [[0] * len(group_names) for _ in label_names]
    for row, (label, group) in enumerate(zip(labels, groups, strict=True)):
        if not 0 <= label < len(label_names):
            raise ValueError(
                f"cooccurrence_table: row {row} has label {label}, outside 0..{len(label_names) - 1}"
            )
        if not 0 <= group < len(group_names):
            raise ValueError(
                f"cooccurrence_table: row {row} has group {group}, outside 0..{len(group_names) - 1}"
            )
        counts[label][group] += 1
    table: dict[str, dict[str, float]] = {}
    for label_name, row_counts in zip(label_names, counts, strict=True):
        total = sum(row_counts)
        entry: dict[str, float] = {
            name: (count / total if total else math.nan)
            for name, count in zip(group_names, row_counts, strict=True)
        }
        entry["count"] = total
        entry.update({f"count_{name}": count for name, count in zip(group_names, row_counts, strict=True)})
        table[label_name] = entry
    return table


# --------------------------------------------------------------------------------------------- generation


def check_generator_options(
    female_rate: float | Mapping[str, float] | str,
    ambiguity: float,
    occupations: Sequence[str] | None,
    eval_female_rate: float | Mapping[str, float] | str,
) -> tuple[str, ...]:
    """Check options of :func:`generate_bios` without generating; return the chosen occupations.

    Raises ``ValueError`` whose message starts with the argument's name (``female_rate=...``), as
    :func:`generate_bios` would; ``eval_female_rate`` (the rate of the evaluation splits) is checked
    like ``female_rate``.
    """
    chosen = _resolve_occupations(occupations)
    _resolve_female_rates(female_rate, chosen)
    _resolve_female_rates(eval_female_rate, chosen, "eval_female_rate")
    _check_probability(ambiguity, "ambiguity", "the share of bios lacking their occupation cue")
    return chosen


def generate_bios(
    num_examples: int,
    *,
    seed: int = 0,
    female_rate: float | Mapping[str, float] | str = "stereotypical",
    ambiguity: float = 0.3,
    occupations: Sequence[str] | None = None,
    occupation_weights: Mapping[str, float] | None = None,
) -> SyntheticBios:
    """Generate ``num_examples`` biographies, deterministically for a given ``seed``.

    Args:
        num_examples: number of bios; at least the number of occupations.
        seed: seed of the only random generator used.
        female_rate: P(female | occupation): one number for all, a mapping with a rate for each
            chosen occupation (extra known occupations are ignored), or a preset name
            (``"stereotypical"``, ``"balanced"``). Realised exactly: ``round(rate * n_occupation)``
            female bios per occupation.
        ambiguity: share in [0, 1] of bios lacking their occupation cue, exact per
            (occupation, gender) cell: ``round(ambiguity * n_cell)``.
        occupations: the occupations to use, in label order (default :data:`OCCUPATIONS`).
        occupation_weights: relative frequency of each chosen occupation (default: equal). Counts
            follow the weights exactly (largest-remainder rounding, ties broken by the seed).

    Returns:
        :class:`SyntheticBios` with ``num_examples`` rows in shuffled order.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    chosen = _resolve_occupations(occupations)
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < len(chosen):
        raise ValueError(
            f"num_examples={num_examples!r}: need an integer of at least {len(chosen)} (one bio per occupation); "
            "raise num_examples or pass fewer occupations"
        )
    rates = _resolve_female_rates(female_rate, chosen)
    _check_probability(ambiguity, "ambiguity", "the share of bios lacking their occupation cue")
    rng = random.Random(seed)
    per_occupation = _apportion(num_examples, _resolve_weights(occupation_weights, chosen), rng)
    for occupation, count in zip(chosen, per_occupation, strict=True):
        if count == 0:
            raise ValueError(
                f"occupation_weights leave {occupation!r} with no bio at num_examples={num_examples}; "
                "raise num_examples or its weight, or drop it from occupations"
            )

    plan: list[tuple[int, int, bool]] = []  # (label, group, has_occupation_cue)
    for label, (occupation, count) in enumerate(zip(chosen, per_occupation, strict=True)):
        num_female = round(rates[occupation] * count)
        for group, cell in ((0, count - num_female), (1, num_female)):
            num_lacking = round(ambiguity * cell)
            plan += [(label, group, False)] * num_lacking + [(label, group, True)] * (cell - num_lacking)
    rng.shuffle(plan)

    vocabulary = bios_vocabulary()
    texts, template_ids = [], []
    for label, group, has_cue in plan:
        template_id = rng.randrange(len(vocabulary.templates))
        texts.append(_render(vocabulary, template_id, chosen[label], GROUP_NAMES[group], has_cue, rng))
        template_ids.append(template_id)
    return SyntheticBios(
        texts=texts,
        labels=[label for label, _, _ in plan],
        groups=[group for _, group, _ in plan],
        label_names=list(chosen),
        group_names=list(GROUP_NAMES),
        has_occupation_cue=[has_cue for _, _, has_cue in plan],
        template_ids=template_ids,
    )


def _render(
    vocabulary: BiosVocabulary,
    template_id: int,
    occupation: str,
    gender: str,
    has_cue: bool,
    rng: random.Random,
) -> str:
    """Fill one template for one person. Draws the same number of values whatever the template."""
    template = vocabulary.templates[template_id]
    family = vocabulary.families[OCCUPATION_FAMILY[occupation]]
    own = vocabulary.occupations[occupation]
    family_duty, other_duty = rng.sample(family.duties, 2)
    family_topic, other_topic = rng.sample(family.topics, 2)
    if has_cue:
        role, duty = rng.choice(own.roles), rng.choice(own.duties)
        specialty, credential = rng.choice(own.specialties), rng.choice(own.credentials)
        academic_titles = family.titles + own.titles
    else:
        role, duty = rng.choice(family.roles), other_duty
        specialty, credential = other_topic, rng.choice(family.credentials)
        academic_titles = family.titles

    first, last = rng.choice(vocabulary.first_names[gender]), rng.choice(vocabulary.surnames)
    title = rng.choice([rng.choice(_HONORIFICS[gender]), *academic_titles])
    # Without pronouns the first name must show (a neutral "Dr. Lee" alone would hide the gender).
    forms = ["first", "titled_first", "titled"] if template.has_pronoun else ["first", "titled_first"]
    form = rng.choices(forms, weights=[0.5, 0.25, 0.25][: len(forms)])[0]
    name = {
        "first": f"{first} {last}",
        "titled_first": f"{title} {first} {last}",
        "titled": f"{title} {last}",
    }[form]
    ref = first if form == "first" else f"{title} {last}"

    slots = {
        "name": name,
        "ref": ref,
        **_PRONOUNS[gender],
        "role": role,
        "duty": duty,
        "specialty": specialty,
        "credential": credential,
        "workplace": rng.choice(family.workplaces),
        "field": rng.choice(family.fields),
        "family_duty": family_duty,
        "family_topic": family_topic,
        "city": rng.choice(vocabulary.cities),
        "school": rng.choice(vocabulary.schools),
        "hobby": rng.choice(vocabulary.hobbies),
        "years": rng.randint(*_YEARS_RANGE),
    }
    return template.text.format(**slots)


# --------------------------------------------------------------------------------------------- arguments


def _check_occupation_names(names: Sequence[str], argument: str) -> None:
    unknown = [name for name in names if name not in OCCUPATION_FAMILY]
    if unknown:
        raise ValueError(
            f"{argument}: unknown occupations {unknown}; valid occupations are {list(OCCUPATIONS)}"
        )


def _check_probability(value: object, argument: str, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{argument}={value!r}: must be a number in [0, 1] ({meaning})")


def _resolve_occupations(occupations: Sequence[str] | None) -> tuple[str, ...]:
    if occupations is None:
        return OCCUPATIONS
    if isinstance(occupations, str):
        raise ValueError(
            f"occupations={occupations!r}: pass a list of occupation names, e.g. [{occupations!r}]"
        )
    chosen = tuple(occupations)
    if not chosen:
        raise ValueError(f"occupations is empty; pass None for all or a list among {list(OCCUPATIONS)}")
    _check_occupation_names(chosen, "occupations")
    repeated = sorted({name for name in chosen if chosen.count(name) > 1})
    if repeated:
        raise ValueError(f"occupations lists {repeated} more than once; list each occupation once")
    return chosen


def _resolve_female_rates(
    female_rate: float | Mapping[str, float] | str, chosen: Sequence[str], argument: str = "female_rate"
) -> dict[str, float]:
    if isinstance(female_rate, str):
        if female_rate not in FEMALE_RATE_PRESETS:
            raise ValueError(
                f"{argument}={female_rate!r}: unknown preset; use one of {sorted(FEMALE_RATE_PRESETS)}, "
                "a number in [0, 1] or a mapping {occupation: rate}"
            )
        return {occupation: FEMALE_RATE_PRESETS[female_rate][occupation] for occupation in chosen}
    if isinstance(female_rate, Mapping):
        _check_occupation_names(list(female_rate), argument)
        missing = [occupation for occupation in chosen if occupation not in female_rate]
        if missing:
            raise ValueError(
                f"{argument} has no rate for {missing}; give one for every chosen occupation, e.g. "
                "{**STEREOTYPICAL_FEMALE_RATE, 'nurse': 0.5}"
            )
        for occupation in chosen:
            _check_probability(
                female_rate[occupation], f"{argument}[{occupation!r}]", "P(female | occupation)"
            )
        return {occupation: float(female_rate[occupation]) for occupation in chosen}
    _check_probability(female_rate, argument, "P(female | occupation)")
    return dict.fromkeys(chosen, float(female_rate))


def _resolve_weights(weights: Mapping[str, float] | None, chosen: Sequence[str]) -> list[float]:
    if weights is None:
        return [1.0] * len(chosen)
    if not isinstance(weights, Mapping):
        raise ValueError(f"occupation_weights={weights!r}: pass a mapping {{occupation: relative weight}}")
    _check_occupation_names(list(weights), "occupation_weights")
    missing = [occupation for occupation in chosen if occupation not in weights]
    if missing:
        raise ValueError(
            f"occupation_weights has no weight for {missing}; give one for every chosen occupation "
            "or restrict occupations to the weighted ones"
        )
    for occupation in chosen:
        weight = weights[occupation]
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise ValueError(
                f"occupation_weights[{occupation!r}]={weight!r}: must be a positive finite number; "
                "to leave an occupation out, drop it from occupations"
            )
    return [float(weights[occupation]) for occupation in chosen]


def _apportion(total: int, weights: Sequence[float], rng: random.Random) -> list[int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder, seeded ties)."""
    weight_sum = sum(weights)
    quotas = [total * weight / weight_sum for weight in weights]
    counts = [math.floor(quota) for quota in quotas]
    order = list(range(len(weights)))
    rng.shuffle(order)  # ties go to a seeded random occupation, not always the first ones
    order.sort(key=lambda i: quotas[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts
