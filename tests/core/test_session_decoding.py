"""Decoding what the hot path reads: the session reply's value cache and the reusable msgpack packer."""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import pytest

from hotstore.core import state
from hotstore.core.codec import encode_document, encode_value
from hotstore.core.state import session_reply

DOCUMENT: dict[str, Any] = {
    "count": 0, "state": "training_active", "flag": False, "nothing": None, "ratio": 0.5, "big": 2**60,
    "counts": {"problem": 1}, "recent": [1, 2], "text": "Да, сейчас у нас около сорока менеджеров, и мы думаем о"
    " расширении отдела.", "cases": [{"id": 1, "name": "Оптовая компания, 40 менеджеров, CRM внедрена частично"}],
}


def _reply(session: dict[str, Any], stats: dict[str, Any]) -> list[bytes]:
    fields = {**encode_document("s:", session), **encode_document("t:", stats), "v": b"3", "xp": b"10"}
    return [part for name, value in fields.items() for part in (name.encode(), value)]


def test_a_reply_decodes_to_the_documents_written_read_after_read() -> None:
    reply = _reply(DOCUMENT, {"total": 5, "badges": ["a"]})
    for _ in range(3):  # the later reads come from the value cache
        session, stats, meta = session_reply(reply)
        assert session == DOCUMENT and stats == {"total": 5, "badges": ["a"]}
        assert meta == {"v": b"3", "xp": b"10"}


def test_lists_and_dicts_are_fresh_objects_on_every_read() -> None:
    reply = _reply(DOCUMENT, {})
    first, _, _ = session_reply(reply)
    first["counts"]["problem"] = 99
    first["recent"].append(3)
    first["cases"][0]["id"] = 7
    second, _, _ = session_reply(reply)
    assert second == DOCUMENT  # what one reader changed in place never reaches another


def test_encodings_of_containers_are_those_encode_value_gives() -> None:
    encodings: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})
    session, _, _ = session_reply(_reply(DOCUMENT, {"badges": ["a"]}), encodings)
    assert encodings[0] == {key: encode_value(value) for key, value in session.items()
                            if isinstance(value, (list, dict))}
    assert set(encodings[0]) == {"counts", "recent", "cases"}  # "cases" was chunked: its joined encoding
    assert encodings[1] == {"badges": encode_value(["a"])}


def test_the_value_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "_SCALAR_VALUES", {})
    monkeypatch.setattr(state, "_SCALAR_VALUES_MAX", 50)
    for n in range(500):
        session, _, _ = session_reply(_reply({"n": n, "s": f"v{n}"}, {}))
        assert session == {"n": n, "s": f"v{n}"}
        assert len(state._SCALAR_VALUES) <= 50


def test_a_value_that_fails_to_pack_leaves_the_packer_clean() -> None:
    for bad in (2**70, object(), [1, {"a": object()}]):
        with pytest.raises((TypeError, OverflowError)):
            encode_value(bad)
        assert encode_value({"x": [1, "é", None]}) == b"m" + msgpack.packb({"x": [1, "é", None]}, use_bin_type=True)


def test_threads_pack_on_their_own_packer() -> None:
    values = [{"n": n, "text": "x" * (n % 70), "items": list(range(n % 9))} for n in range(300)]
    expected = [b"m" + msgpack.packb(value, use_bin_type=True) for value in values]
    mismatches: list[int] = []

    def pack_all() -> None:
        for _ in range(20):
            mismatches.extend(i for i, value in enumerate(values) if encode_value(value) != expected[i])

    threads = [threading.Thread(target=pack_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []
