"""An ``argparse`` command line generated from a dataclass: the dataclass is the single source of truth.

Every field becomes ``--field-name``; its help text is the docstring written under the field
(cleanrl's ``Args`` style), its default and type come from the annotation. Supported types:
``int``, ``float``, ``str``, ``bool`` (``--flag`` / ``--no-flag``), ``Literal[...]`` of strings
(choices), ``list[int]`` / ``list[float]`` / ``list[str]`` (space-separated values) and ``dict``
(a JSON object string).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import shlex
import textwrap
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """The string literal written under each field of a dataclass (empty when the source is missing)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # pragma: no cover - e.g. defined in a REPL
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: ...``), not the full usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser(cls: type, description: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with one option per field of the dataclass ``cls``.

    Defaults are ``argparse.SUPPRESS``, so the parsed namespace holds only the options given on the
    command line (see :func:`parse_config`); the help shows the dataclass defaults. Usage errors print
    one line and exit with status 2.
    """
    parser = OneLineErrorParser(
        prog=prog,
        description=description or (inspect.getdoc(cls) or "").split("\n\n")[0],
        argument_default=argparse.SUPPRESS,
    )
    hints = typing.get_type_hints(cls)
    docs = {
        k: v for base in reversed(cls.__mro__) if dataclasses.is_dataclass(base) for k, v in field_docs(base).items()
    }
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kwargs: dict[str, Any] = {"help": f"{docs.get(f.name, '')} (default: {default!r})"}
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            kwargs.update(choices=list(args), type=type(args[0]))
        elif origin is list:
            kwargs.update(nargs="+", type=args[0] if args else str)
        elif tp is dict or origin is dict:
            kwargs.update(type=_json_dict, metavar="JSON")
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:  # pragma: no cover - a programming error in the config class
            raise TypeError(f"unsupported field type {tp!r} for {f.name}")
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kwargs)
    return parser


def parse_config(cls: type[T], argv: list[str] | None = None, prog: str | None = None) -> tuple[T, set[str]]:
    """Parse ``argv`` into an instance of the dataclass ``cls``.

    :param cls: the config dataclass
    :param argv: command-line arguments (``sys.argv[1:]`` when None)
    :param prog: program name shown in the usage line
    :return: the config and the names of the fields given explicitly on the command line
    """
    given = vars(build_parser(cls, prog=prog).parse_args(argv))
    return cls(**given), set(given)


def format_command(config: Any, prog: str, skip: frozenset[str] = frozenset(), keep: tuple[str, ...] = ()) -> str:
    """The command line that :func:`parse_config` turns back into ``config`` (non-default fields only).

    :param config: a dataclass instance
    :param prog: the program, e.g. ``"python -m caasl_agents.train"``
    :param skip: field names to leave out (e.g. output folders)
    :param keep: field names written even at their default (e.g. the environment id)
    :return: a shell command; values are quoted where the shell needs it
    """
    parts = [prog]
    for f in dataclasses.fields(config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        value = getattr(config, f.name)
        if f.name in skip or (value == default and f.name not in keep):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, list):
            parts += [flag, *(shlex.quote(str(v)) for v in value)]
        elif isinstance(value, dict):
            parts += [flag, shlex.quote(json.dumps(value))]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)
