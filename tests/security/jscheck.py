"""Checks that hostile text in a produced page stayed data: scripts tokenized as a browser would cut them.

Every payload carries a marker word (``XSSMARK``); a page is safe when, in every inline ``<script>``
(cut at the first ``</script`` as the HTML parser does), the marker occurs only inside string or
template-literal tokens (never as an identifier, so never called), the string content that reaches
``innerHTML`` holds no live tag, and no element of the page carries the marker in an event-handler
attribute or in a ``<script>`` of its own making.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

esprima = pytest.importorskip("esprima", reason="the hostile-input checks tokenize scripts with esprima")

MARK = "XSSMARK"
"""The word every script payload would run: ``XSSMARK()``."""

PAYLOADS = (
    "Y${XSSMARK(1)}",
    "b`;XSSMARK(2);`",
    "</script><script>XSSMARK(3)</script>",
    "\"';XSSMARK(4);//",
    "<img src=x onerror=XSSMARK(5)>",
    "x\\`;XSSMARK(6)//",
    '=HYPERLINK("http://evil.example","XSSMARK")',
    "+SUM(1,1)XSSMARK",
    "@cmd|XSSMARK",
    "-2+3XSSMARK",
    "a\r\nb XSSMARK",
    "\tXSSMARK tab",
    "L" * 3000 + "XSSMARK",
)
"""Hostile strings: template-literal breakers, quotes, </script>, HTML, formula prefixes, CR/LF, long."""

FORMULA = ("=", "+", "-", "@", "\t", "\r")

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)(?:</script|\Z)", re.I | re.S)
_LIVE_TAG = re.compile(r"<\s*(img|script|svg|iframe|object|embed|a|body|style|link|meta)\b", re.I)


def scripts(html: str) -> list[str]:
    """The inline scripts of a page as the HTML tokenizer cuts them."""
    return [body for attrs, body in _SCRIPT.findall(html) if "src=" not in attrs.lower()]


def _decoded(token_value: str) -> str:
    return (
        token_value.replace("\\u003c", "<")
        .replace("\\u003C", "<")
        .replace("\\u003e", ">")
        .replace("\\/", "/")
        .replace('\\"', '"')
        .replace("\\'", "'")
    )


class _Attrs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") and value and MARK in value:
                self.bad.append(f"<{tag} {name}={value[:60]!r}>")
            if name in ("href", "src") and value and value.strip().lower().startswith("javascript:"):
                self.bad.append(f"<{tag} {name}={value[:60]!r}>")


def assert_inert(html: str, where: str = "page") -> int:
    """Fail unless every occurrence of :data:`MARK` in ``html`` is inert data; returns the scripts read.

    Only scripts that mention the marker are tokenized (the inlined libraries never do), so this
    stays fast.
    """
    n = 0
    for body in scripts(html):
        if MARK not in body:
            continue
        n += 1
        # the HTML parser turns CR into LF inside a script: a raw CR would break the script's CSP hash
        assert "\r" not in body, f"{where}: a raw carriage return from the data inside a script"
        try:
            tokens = esprima.tokenize(body)
        except esprima.Error as exc:  # a script broken by hostile text
            raise AssertionError(f"{where}: an inline script no longer parses: {exc}") from None
        for tok in tokens:
            if MARK not in tok.value:
                continue
            assert tok.type in ("String", "Template"), (
                f"{where}: {MARK} reached a script as {tok.type} {tok.value[:80]!r}"
            )
            live = _LIVE_TAG.search(_decoded(tok.value))
            assert live is None, f"{where}: a live tag {live.group(0)!r} in a string that becomes HTML"
    parser = _Attrs()
    parser.feed(html)
    assert not parser.bad, f"{where}: hostile event handlers or script URLs: {parser.bad[:3]}"
    return n


def assert_csv_safe(text: str, where: str = "csv") -> None:
    """Fail when a CSV cell (outside the ``#`` provenance lines) starts with a formula prefix."""
    import csv
    import io

    lines = text.splitlines(keepends=True)
    body = "".join(line for line in lines if not line.startswith("#"))
    for r, row in enumerate(csv.reader(io.StringIO(body, newline=""))):
        for cell in row:
            if cell[:1] in FORMULA and not _is_number(cell):
                raise AssertionError(f"{where}: row {r} has a formula cell {cell[:40]!r}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
