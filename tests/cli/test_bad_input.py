"""Every bad input gets one message, first and alone, with exit code 2: a table of the cases.

Each case is a command line (built in a temporary directory, with the files it needs), the words its
message must contain, and whether the mistake is caught while parsing (then the message is the very
first line on stderr: no usage before it, nothing logged yet).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO_ROOT, one_error_line, run_cli

TINY = str(REPO_ROOT / "configs" / "tiny.yaml")
PRETRAIN_TINY = str(REPO_ROOT / "configs" / "pretrain" / "tiny.yaml")
BIOS_HEADER = "bio,occupation,gender\n"
BIOS_ROWS = "".join(f"She is a nurse number {i}.,nurse,female\nHe is a surgeon number {i}.,surgeon,male\n" for i in range(30))


def fit(tmp_path: Path, *overrides: str) -> list[str]:
    return ["fit", "--config", TINY, f"--trainer.default_root_dir={tmp_path / 'run'}", "--trainer.max_epochs=1",
            *overrides]


def fit_on_file(tmp_path: Path, name: str, content: bytes, *overrides: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    return fit(tmp_path, "--data.source=files", f"--data.files={{train: {path}}}", "--data.columns.text=bio",
               "--data.columns.label=occupation", "--data.columns.group=gender", *overrides)


def pretrain_on_file(tmp_path: Path, name: str, content: bytes, *overrides: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    return ["pretrain", "--config", PRETRAIN_TINY, f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.callbacks=[]", f"--data.path={path}", "--model.measure_intrinsic=false", *overrides]


def config_file(tmp_path: Path, extra_yaml: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(Path(TINY).read_text() + extra_yaml)
    return str(path)


LATIN_1_CSV = (BIOS_HEADER + "Il est chef au caf\xe9.,chef,male\n" + BIOS_ROWS).encode("latin-1")
LATIN_1_OFFSET = len(BIOS_HEADER) + len("Il est chef au caf")

# (id, command line for tmp_path, words the message must contain, caught while parsing)
CASES: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...], bool]] = [
    # config mistakes: one line, no usage, "did you mean" for near misses
    ("unknown_key_command_line", lambda t: fit(t, "--model.learnin_rate", "1e-3"),
     ("model.learnin_rate", "did you mean `model.learning_rate`?"), True),
    ("unknown_key_yaml", lambda t: ["fit", "--config", config_file(t, "\nmodle:\n  learning_rate: 0.1\n")],
     ("modle.learning_rate", "did you mean `model.learning_rate`?"), True),
    ("unknown_nested_key", lambda t: fit(t, "--data.synthetic_bios.num_exampels=500"),
     ("data.synthetic_bios.num_exampels", "did you mean `data.synthetic_bios.num_examples`?"), True),
    ("missing_config_file", lambda t: ["fit", "--config", str(t / "nope.yaml")], ("nope.yaml", "does not exist"), True),
    ("wrong_type", lambda t: fit(t, "--data.batch_size=big"), ("data.batch_size", "expected int", "'big'"), True),
    ("wrong_type_optional", lambda t: fit(t, "--data.eval_batch_size=big"),
     ("data.eval_batch_size", "expected int or null", "'big'"), True),
    ("wrong_type_yaml", lambda t: ["fit", "--config", config_file(t, "\ntrainer:\n  max_epochs: many\n")],
     ("trainer.max_epochs", "'many'"), True),
    ("unknown_key_pretrain", lambda t: ["pretrain", "--config", PRETRAIN_TINY, "--data.blok_size=64"],
     ("did you mean `data.block_size`?",), True),
    # a negative number after a space is a value, then rejected by name
    ("negative_learning_rate", lambda t: fit(t, "--model.learning_rate", "-1e-3"),
     ("model.learning_rate", "> 0", "-0.001"), False),
    ("negative_weight_decay", lambda t: fit(t, "--model.weight_decay", "-0.5"), ("model.weight_decay", ">= 0"), False),
    ("negative_learning_rate_pretrain", lambda t: ["pretrain", "--config", PRETRAIN_TINY, "--model.learning_rate", "-5e-3"],
     ("model.learning_rate", "> 0"), False),
    # every numeric option checked where it enters, by name
    ("max_length_zero", lambda t: fit(t, "--data.max_length=0"), ("data.max_length", ">= 1", "got 0"), False),
    ("max_length_negative", lambda t: fit(t, "--data.max_length", "-5"), ("data.max_length", ">= 1", "got -5"), False),
    ("max_length_below_special_tokens", lambda t: fit(t, "--data.max_length=2"), ("data.max_length", "special tokens"),
     False),
    ("batch_size_zero", lambda t: fit(t, "--data.batch_size=0"), ("data.batch_size", ">= 1"), False),
    ("num_workers_negative", lambda t: fit(t, "--data.num_workers=-1"), ("data.num_workers", ">= 0"), False),
    ("val_fraction_out_of_range", lambda t: fit(t, "--data.val_fraction=1.5"), ("data.val_fraction", "< 1"), False),
    ("warmup_ratio_out_of_range", lambda t: fit(t, "--model.warmup_ratio=2"), ("model.warmup_ratio", "< 1"), False),
    ("auc_thresholds_too_few", lambda t: fit(t, "--model.auc_thresholds=1"), ("model.auc_thresholds", ">= 2"), False),
    ("synthetic_num_examples", lambda t: fit(t, "--data.synthetic_bios.num_examples=0"),
     ("data.synthetic_bios.num_examples", ">= 1"), False),
    ("synthetic_too_few_for_split", lambda t: fit(t, "--data.synthetic_bios.num_examples=40"),
     ("data.synthetic_bios.num_examples=40", "val split", "16 occupations"), False),
    ("synthetic_ambiguity", lambda t: fit(t, "--data.synthetic_bios.ambiguity=1.5"),
     ("data.synthetic_bios.ambiguity", "[0, 1]"), False),
    ("block_size_zero", lambda t: ["pretrain", "--config", PRETRAIN_TINY, "--data.block_size=0"],
     ("data.block_size", ">= 1"), False),
    ("mlm_probability_out_of_range", lambda t: ["pretrain", "--config", PRETRAIN_TINY, "--data.mlm_probability=1"],
     ("data.mlm_probability", "< 1"), False),
    ("trainer_option", lambda t: fit(t, "--trainer.max_epochs", "-5"), ("trainer", "max_epochs"), False),
    # data files: empty, not UTF-8 (file, byte offset, the encoding option)
    ("empty_csv", lambda t: fit_on_file(t, "empty.csv", b""), ("data.files.train", "empty.csv", "is empty"), False),
    ("empty_gzipped_csv", lambda t: fit_on_file(t, "empty.csv.gz", gzip.compress(b"")),
     ("data.files.train", "empty.csv.gz", "is empty"), False),
    ("latin_1_csv", lambda t: fit_on_file(t, "latin.csv", LATIN_1_CSV),
     ("data.files.train", "latin.csv", "not valid utf-8", f"offset {LATIN_1_OFFSET}", "0xe9", "data.encoding"), False),
    ("unknown_encoding", lambda t: fit_on_file(t, "latin.csv", LATIN_1_CSV, "--data.encoding=latin-99"),
     ("data.encoding", "latin-99"), False),
    ("empty_corpus_file", lambda t: pretrain_on_file(t, "corpus.txt", b""), ("data.path", "corpus.txt", "is empty"),
     False),
    ("latin_1_corpus_file", lambda t: pretrain_on_file(t, "corpus.txt", "one line\ncaf\xe9 au lait\n".encode("latin-1")),
     ("data.path", "corpus.txt", "not valid utf-8", "offset 12", "data.encoding"), False),
    # a hub dataset while offline
    ("hub_offline", lambda t: fit(t, "--data.source=hub", "--data.hub_dataset=nobody-here/not-cached-dataset"),
     ("nobody-here/not-cached-dataset", "offline", "source: files", "data.files"), False),
    ("hub_text_offline", lambda t: ["pretrain", "--config", PRETRAIN_TINY, f"--trainer.default_root_dir={t}",
                                    "--trainer.callbacks=[]", "--data.source=hub_text",
                                    "--data.path=nobody-here/not-cached-corpus"],
     ("nobody-here/not-cached-corpus", "offline", "source: text_files", "data.path"), False),
]


@pytest.fixture
def offline(monkeypatch):
    """The hub unreachable for this test, as with HF_HUB_OFFLINE=1 (read by datasets at import)."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize(("command", "needles", "at_parse"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_message_with_exit_code_2(tmp_path, capsys, offline, command, needles, at_parse):
    code, err = run_cli(command(tmp_path), capsys)
    lines, first = one_error_line(code, err)
    if at_parse:
        assert first == 0, err  # caught while parsing: nothing before it either
    for needle in needles:
        assert needle in lines[first], lines[first]


def test_help_still_prints_the_usage(capsys):
    from lightning_bias.commands import main

    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--model.learning_rate" in out


def test_encoding_option_reads_a_latin_1_file(tmp_path, capsys):
    code, err = run_cli(fit_on_file(tmp_path, "latin.csv", LATIN_1_CSV, "--data.encoding=latin-1"), capsys)
    assert code == 0, err
