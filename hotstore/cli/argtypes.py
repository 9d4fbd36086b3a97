"""What the ``hotstore`` command line and the demo share: argparse ``type=`` converters, URLs shown safely."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def number_arg(
    convert: Callable[[str], N], accept: Callable[[N], bool], *, kind: str, refusal: str
) -> Callable[[str], N]:
    """A converter: ``convert(raw)``, refused with ``not <kind>: 'raw'`` when it is no number, and with
    ``<refusal>: 'raw'`` when ``accept`` rejects the value (argparse prints either as a one-line usage error)."""

    def parse(raw: str) -> N:
        try:
            value = convert(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {kind}: {raw!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{refusal}: {raw!r}")
        return value

    return parse


def safe_url(url: str) -> str:
    """``url`` with any password hidden, for banners and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
