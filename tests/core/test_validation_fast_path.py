"""check_document's fast walk accepts, refuses and copies exactly as the precise walk (invariant 9)."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotstore.core.errors import InvalidInput
from hotstore.core.validation import _json_value, check_document

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=4), st.binary(max_size=2), st.sets(st.integers(), max_size=1),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3) | st.integers() | st.none(), inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=2).map(OrderedDict),
    max_leaves=12,
)


def _precise(document: Any) -> Any:
    try:
        return ("ok", _json_value("doc", document, 0))
    except InvalidInput as exc:
        return ("refused", str(exc))


def _fast(document: Any) -> Any:
    try:
        return ("ok", check_document("doc", document))
    except InvalidInput as exc:
        return ("refused", str(exc))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and (a == b if not isinstance(a, (list, dict)) else repr(a) == repr(b))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=3), values, max_size=4))
def test_the_fast_walk_matches_the_precise_walk(document: dict[str, Any]) -> None:
    assert _same(_fast(document), _precise(document))


def _nested(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for _ in range(depth):
        document = {"k": document}
    return document


@pytest.mark.parametrize("depth", [31, 32, 33, 34])
@pytest.mark.parametrize("leaf", [None, 1, [], {}, [1]])
def test_the_depth_limit_is_the_precise_walks(depth: int, leaf: Any) -> None:
    document: Any = leaf
    for _ in range(depth):
        document = {"k": document}
    assert _same(_fast(document), _precise(document))
    assert _same(_fast(_nested(depth)), _precise(_nested(depth)))
