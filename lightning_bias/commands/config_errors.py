"""Config mistakes reported in one line: the parsers of the CLI raise ``ConfigError`` instead of printing usage.

jsonargparse (under LightningCLI) reports an unknown key, a missing config file or a value of the wrong
type through ``ArgumentParser.error``, which prints the whole usage (about 80 lines) before the one line
that matters, and exits. ``OneLineErrors.error`` raises ``ConfigError`` (a ``ValueError``) instead, with
the message condensed to one line and, for a near-miss key, "did you mean `model.learning_rate`?"; the
CLI prints it as its other bad-input errors, with exit code 2. ``--help`` is not an error and still
prints the usage.

A class's constructor that rejects a value of a union-typed option (``trainer.callbacks``: a list, one
callback or none) reaches the CLI inside jsonargparse's report of every union member it tried, its reason
on the fifth line; ``constructor_error`` digs that reason out.

The parsers also read a negative number after a space (``--model.learning_rate -1e-3``) as the option's
value: argparse takes ``-1e-3`` for an option (only ``-5`` and ``-0.5`` look like numbers to it), so the
value is then checked, and rejected by name, where the option is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import traceback
import typing
from pathlib import Path
from typing import Any, NoReturn

import jsonargparse
from jsonargparse import ActionConfigFile, ArgumentParser

_NOT_KEYS = {"help", "config", "print_config"}  # last parts of dests that are actions, not options
_UNKNOWN_KEY_PATTERNS = (
    re.compile(r"does not accept option '(?P<key>[^']+)'"),  # a key of a config file (or --x=... of a group)
    re.compile(r"Option '(?P<key>[^']+)' is not accepted"),
)


class ConfigError(ValueError):
    """A mistake in the command line or in a config file, in one line."""


def option_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Every option key the parser accepts (``model.learning_rate``), subcommands' and dataclass fields' too."""
    keys: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                keys |= option_keys(subparser)
            continue
        last_part = action.dest.rsplit(".", 1)[-1]
        if last_part in _NOT_KEYS or action.dest == argparse.SUPPRESS or isinstance(action, ActionConfigFile):
            continue
        keys.add(action.dest)
        typehint = getattr(action, "_typehint", None)  # jsonargparse's typed options: nested dataclass fields
        for member in (typehint, *typing.get_args(typehint)):
            if dataclasses.is_dataclass(member):
                keys |= {f"{action.dest}.{field.name}" for field in dataclasses.fields(member)}
    return keys


def _suggestion(key: str, keys: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.75)
    return f"; did you mean `{close[0]}`?" if close else ""


def _unknown_keys(message: str) -> list[str]:
    """The keys a message reports as not accepted (``--model.x`` of the command line, or a config file's),
    in full: a nested value's key follows the keys of the values it is nested in."""
    if message.startswith("unrecognized arguments:"):
        return [arg[2:].split("=", 1)[0] for arg in message.split(":", 1)[1].split() if arg.startswith("--")]
    unknown = []
    for pattern in _UNKNOWN_KEY_PATTERNS:
        for match in pattern.finditer(message):
            outer = re.findall(r'Parser key "([^"]+)"', message[: match.start()])
            unknown.append(".".join([*outer, match["key"]]))
    return unknown


def _type_error(message: str) -> str | None:
    """``key: expected int or null, got 'abc'`` from jsonargparse's multi-line report of a wrongly typed value
    (``None`` when the message is not about a key's value)."""
    keys = re.findall(r'Parser key "([^"]+)"', message)
    if not keys:
        return None
    innermost = message.rsplit(f'Parser key "{keys[-1]}"', 1)[1]  # a nested value's own report comes last
    names = re.findall(r"Expected a <class '(?:[\w.]+\.)?(\w+)'>", innermost)
    expected = list(dict.fromkeys("null" if name == "NoneType" else name for name in names))
    given = re.search(r"(?:Got value|Given value): (.*)", innermost)
    key = "--config" if keys == ["config"] else ".".join(keys)
    if not expected or given is None:
        detail = " ".join(line.strip() for line in message.split(f'Parser key "{keys[0]}":', 1)[1].splitlines())
        return f"{key}: {detail.strip()}"
    return f"{key}: expected {' or '.join(expected)}, got {given[1].strip()!r}"


def one_line(message: str, keys: set[str]) -> str:
    """jsonargparse's error ``message`` in one line, with "did you mean" for near-miss unknown keys."""
    unknown = _unknown_keys(message)
    if unknown:
        named = "; ".join(f"unknown option `{key}`{_suggestion(key, keys)}" for key in unknown)
        return f"{named} (--help lists the options)"
    return _type_error(message) or " ".join(line.strip() for line in message.splitlines())


def _raised_in_jsonargparse(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(jsonargparse.__file__).parent in Path(frames[-1].filename).parents


def constructor_error(error: Exception) -> Exception:
    """The ``ValueError`` a class's constructor raised when jsonargparse wrapped it into its own report while
    instantiating an option's value (``RankWatchdog interval must be positive seconds, got -1.0``); ``error``
    itself when it is not such a wrapper."""
    reason = error
    while isinstance(reason.__cause__, ValueError):
        reason = reason.__cause__
    if reason is error or not _raised_in_jsonargparse(error) or _raised_in_jsonargparse(reason):
        return error
    return reason


class OneLineErrors(ArgumentParser):
    """An ``ArgumentParser`` whose mistakes raise ``ConfigError`` (one line) instead of printing usage and
    exiting, and that reads a negative number after an option (``-1e-3``) as its value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own pattern (-5, -0.5) misses exponents (-1e-3); a dash before a digit is a number here
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:  # jsonargparse's inner parsers of typed values report to the parser above
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        raise ConfigError(one_line(message, option_keys(parser))) from ex
