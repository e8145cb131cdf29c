"""How a `stepwise` command is declared: once, on its handler, with its arguments and what it
does with the database; the argparse parser is built from these declarations."""

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from app.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], None]
# What a command does with the database the settings name. `stepwise` refuses a missing SQLite
# file to a command that only uses one, rather than leave an empty database file behind.
Database = Literal["uses", "creates", "none"]


@dataclass(frozen=True)
class Argument:
    flags: tuple[str, ...]
    options: dict[str, Any]


def argument(*flags: str, **options: Any) -> Argument:
    """What `ArgumentParser.add_argument` takes, for the parser built later."""
    return Argument(flags, options)


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    help: str
    arguments: tuple[Argument, ...]
    database: Database
    run: Handler


@dataclass
class Commands:
    """A module's commands and the help of their groups, in the order `--help` lists them."""

    groups: dict[tuple[str, ...], str] = field(default_factory=dict)
    declared: list[Command] = field(default_factory=list)

    def group(self, *path: str, help: str) -> None:
        self.groups[path] = help

    def add(
        self, *path: str, help: str, arguments: tuple[Argument, ...] = (), database: Database = "uses"
    ) -> Callable[[Handler], Handler]:
        def declare(run: Handler) -> Handler:
            self.declared.append(Command(path, help, arguments, database, run))
            return run

        return declare


def add_commands(parser: argparse.ArgumentParser, *modules: Commands) -> None:
    """Add the modules' commands to `parser`; the one a command line names is `args.declared_command`."""
    groups = {path: help for module in modules for path, help in module.groups.items()}
    top: tuple[str, ...] = ()
    subcommands = {top: parser.add_subparsers(dest="command", required=True)}
    for command in (command for module in modules for command in module.declared):
        for depth in range(1, len(command.path)):
            path = command.path[:depth]
            if path not in subcommands:
                group = subcommands[path[:-1]].add_parser(path[-1], help=groups[path])
                # argparse names a missing subcommand by its dest: `action`, `keys_action` under `partners keys`.
                subcommands[path] = group.add_subparsers(dest="_".join((*path[1:], "action")), required=True)
        parsed = subcommands[command.path[:-1]].add_parser(command.path[-1], help=command.help)
        for each in command.arguments:
            parsed.add_argument(*each.flags, **each.options)
        parsed.set_defaults(declared_command=command)
