"""A tiny HTML reader for page tests: find elements by tag, attributes and class, read text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

Attrs = dict[str, str | None]


@dataclass
class ParsedPage:
    elements: list[tuple[str, Attrs]] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> list[Attrs]:
        """Elements with ``tag``, carrying class ``cls`` and every attribute given
        (``aria_valuenow="40"`` matches ``aria-valuenow="40"``)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        found = []
        for name, element in self.elements:
            if tag is not None and name != tag:
                continue
            if cls is not None and cls not in (element.get("class") or "").split():
                continue
            if all(element.get(key) == value for key, value in wanted.items()):
                found.append(element)
        return found


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = re.sub(r"\s+", " ", " ".join(self._text)).strip()


def parse(html: str) -> ParsedPage:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
