"""``hotstore migrate-json``'s progress: a rich bar on a terminal, plain lines in a pipe or log."""

from __future__ import annotations

import io

from hotstore.cli.migrate_json import ImportProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_that_reaches_the_total() -> None:
    out = Terminal()
    with ImportProgress(out, 2000) as progress:
        progress.update(1000)
        progress.update(2000)
    text = out.getvalue()
    assert "importing users" in text and "2000/2000" in text and "\rimporting users: " not in text


def test_a_pipe_gets_plain_lines() -> None:
    out = io.StringIO()
    with ImportProgress(out, 4) as progress:
        progress.update(2)
        progress.update(4)
    assert out.getvalue() == "\rimporting users: 2/4 (50%)\rimporting users: 4/4 (100%)\n"
