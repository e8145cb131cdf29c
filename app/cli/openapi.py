"""`stepwise openapi`: the service's OpenAPI document, as `openapi/openapi.json` holds it."""

import argparse
import json
import sys
from pathlib import Path

from app.cli.commands import Commands, argument
from app.settings import Settings

commands = Commands()


def openapi_document() -> str:
    from app.main import create_app

    return json.dumps(create_app(Settings(database_url="sqlite://")).openapi(), indent=2, ensure_ascii=False) + "\n"


@commands.add(
    "openapi",
    help="print the OpenAPI document (or write it to a file)",
    arguments=(argument("--write", type=Path, metavar="PATH"),),
    database="none",
)
def _openapi(args: argparse.Namespace, settings: Settings) -> None:
    document = openapi_document()
    if args.write:
        args.write.write_text(document, encoding="utf-8")
    else:
        sys.stdout.write(document)
