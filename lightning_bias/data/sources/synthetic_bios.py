"""``SyntheticBiosSource``: the built-in synthetic biographies as train, validation and test splits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightning_bias.data.option_checks import check_number
from lightning_bias.data.sources.base import ClassificationSource, LabelledSplits
from lightning_bias.data.synthetic_bios import check_generator_options, generate_bios


@dataclass
class SyntheticBiosOptions:
    """Options of the built-in synthetic biographies (see ``lightning_bias.data.synthetic_bios``).

    ``female_rate`` is P(female | occupation) of the train split: a number, a mapping per
    occupation, or a preset (``"stereotypical"``, ``"balanced"``). ``eval_female_rate`` does the
    same for validation and test, and is balanced (0.5) by default whatever the train rate: the
    condition a study varies is the fine-tuning co-occurrence, so the splits it is measured on stay
    fixed. With the same ``seed``, ``num_examples``, fractions, ``ambiguity`` and ``occupations``,
    the validation and test rows are identical at every train ``female_rate``.
    """

    num_examples: int = 3000
    female_rate: float | dict[str, float] | str = "stereotypical"
    eval_female_rate: float | dict[str, float] | str = 0.5
    ambiguity: float = 0.3
    occupations: list[str] | None = None
    seed: int = 0


class SyntheticBiosSource(ClassificationSource):
    """Synthetic biographies with an exact P(female | occupation) and an ambiguity knob (occupation, gender).

    Args:
        synthetic_bios: the generator's options (a ``SyntheticBiosOptions`` or a mapping of its fields).
        val_fraction, test_fraction: shares of ``num_examples`` generated as the validation and test splits
            (each split from its own seed, so the splits share no draw); a split of 0 rows is left out.
    """

    def __init__(
        self,
        synthetic_bios: SyntheticBiosOptions | Mapping[str, Any] | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
    ) -> None:
        if synthetic_bios is None:
            synthetic_bios = SyntheticBiosOptions()
        elif not isinstance(synthetic_bios, SyntheticBiosOptions):
            synthetic_bios = SyntheticBiosOptions(**synthetic_bios)
        self.options = synthetic_bios
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self._check_options()

    def _check_options(self) -> None:
        """Every option checked before any bio is generated, named as in the config (``data.synthetic_bios.*``)."""
        opts = self.options
        check_number("data.synthetic_bios.num_examples", opts.num_examples, at_least=1, integer=True)
        check_number("data.synthetic_bios.seed", opts.seed, integer=True)
        try:
            chosen = check_generator_options(opts.female_rate, opts.ambiguity, opts.occupations, opts.eval_female_rate)
        except ValueError as err:
            raise ValueError(f"data.synthetic_bios.{err}") from None
        for split, n in self.split_sizes().items():
            if 0 < n < len(chosen):
                raise ValueError(
                    f"data.synthetic_bios.num_examples={opts.num_examples} gives the {split} split {n} bios, fewer than "
                    f"the {len(chosen)} occupations (one bio each at least); raise num_examples"
                    + ("" if split == "train" else f" or set data.{split}_fraction to 0")
                )

    def split_sizes(self) -> dict[str, int]:
        """Bios per split: ``val_fraction`` and ``test_fraction`` of ``num_examples``, rounded; train the rest."""
        n_val = round(self.options.num_examples * self.val_fraction)
        n_test = round(self.options.num_examples * self.test_fraction)
        return {"train": self.options.num_examples - n_val - n_test, "val": n_val, "test": n_test}

    def load(self) -> LabelledSplits:
        import datasets  # here, not at the top: it would add ~0.5 s to every command's start-up

        opts = self.options
        tables, label_names, group_names = {}, [], []
        for offset, (split, n) in enumerate(self.split_sizes().items()):
            if n == 0:
                continue
            bios = generate_bios(
                n, seed=opts.seed * 1000 + offset, female_rate=self._female_rate(split), ambiguity=opts.ambiguity,
                occupations=opts.occupations,
            )
            tables[split] = datasets.Dataset.from_dict({"text": bios.texts, "label": bios.labels, "group": bios.groups})
            label_names, group_names = list(bios.label_names), list(bios.group_names)
        return LabelledSplits(tables, label_names, group_names)

    def _female_rate(self, split: str) -> float | dict[str, float] | str:
        return self.options.female_rate if split == "train" else self.options.eval_female_rate

    def declared_distribution(self) -> dict[str, dict[str, Any]]:
        """The generator's setting of every split it yields: ``female_rate`` (P(female | occupation), as
        configured) and ``ambiguity`` (the share of bios without their occupation cue)."""
        return {
            split: {"female_rate": self._female_rate(split), "ambiguity": self.options.ambiguity}
            for split, n in self.split_sizes().items() if n > 0
        }
