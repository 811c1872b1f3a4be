"""Documents -> `Page`: HTML (via html2text), Markdown, plain text and PDF in the trained display form.

HTML is first rewritten with the standard library's tokenizer: each `<a href>` becomes the text
`【id†anchor text】` (same domain) or `【id†anchor text†domain】`, images become `[Image n: alt]`,
scripts, styles and math vanish and literal 【 】 become 〖 〗. html2text then turns the rewritten HTML
into text (no wrapping, no Markdown escaping, no link or table syntax), and every page starts with a
`URL: ...` line, as in the gpt-oss reference browser. Every converter drops control characters and
bidi overrides from the text (`replace_special_chars`) and caps the title (`clean_title`).
"""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

from agentoss.tools.browser.page import Page, clean_title, get_domain, replace_special_chars

__all__ = ["html_to_page", "markdown_to_page", "pdf_to_page", "text_to_page"]

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "math", "svg"})
_IMG_OPEN, _IMG_CLOSE = "\ue000", "\ue001"
_IMG_RE = re.compile(f"{_IMG_OPEN}([^{_IMG_CLOSE}]*){_IMG_CLOSE}")
_EMPTY_LINE_RE = re.compile(r"^\s+$", flags=re.MULTILINE)
_EXTRA_NEWLINE_RE = re.compile(r"\n(\s*\n)+")
_WHITESPACE_RE = re.compile(r"\s+")


def _join(base: str, href: str) -> str:
    """`urljoin`, also for `corpus://` pages (urllib resolves relative links only for known schemes)."""
    if base.startswith("corpus://") and not urlparse(href).scheme and not href.startswith("//"):
        joined = urljoin("http://" + base[len("corpus://") :], href)
        return "corpus://" + joined[len("http://") :] if joined.startswith("http://") else joined
    return urljoin(base, href)


class _LinkTable:
    """Numbers distinct link targets in order of first appearance and formats them for the model."""

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url
        self.page_domain = get_domain(page_url)
        self.links: dict[int, str] = {}
        self._ids: dict[str, int] = {}

    def render(self, href: str, text: str) -> str | None:
        """The `【id†text(†domain)】` form of a link, or None when it is not followable."""
        href = href.strip()
        if not href or href.startswith(("mailto:", "javascript:", "tel:", "data:")):
            return None
        try:
            target = _join(self.page_url, href)
        except ValueError:
            return None
        domain = get_domain(target)
        if not domain or urlparse(target).scheme not in ("http", "https", "corpus"):
            return None
        link_id = self._ids.get(target)
        if link_id is None:
            link_id = self._ids[target] = len(self.links)
            self.links[link_id] = target
        label = text.replace("†", "‡")
        return f"【{link_id}†{label}】" if domain == self.page_domain else f"【{link_id}†{label}†{domain}】"


class _Rewriter(HTMLParser):
    """Re-emits HTML with links, images and skipped elements already turned into display text."""

    def __init__(self, table: _LinkTable) -> None:
        super().__init__(convert_charrefs=True)
        self.table = table
        self.out: list[str] = []
        self.title: list[str] = []
        self._in_title = False
        self._skip: list[str] = []
        self._anchor: tuple[str, list[str], list[str]] | None = None  # href, raw html, text

    def _emit(self, chunk: str) -> None:
        (self._anchor[1] if self._anchor is not None else self.out).append(chunk)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.append(tag)
            return
        if tag == "title":
            self._in_title = True
            return
        if tag in _SKIP_TAGS:
            self._skip.append(tag)
            return
        values = dict(attrs)
        if tag == "img":
            alt = _WHITESPACE_RE.sub(" ", values.get("alt") or values.get("title") or "").strip()
            self._emit(f"{_IMG_OPEN}{html.escape(alt, quote=False)}{_IMG_CLOSE}")
            return
        if tag == "a" and values.get("href") is not None and self._anchor is None:
            self._anchor = (values["href"] or "", [], [])
            return
        if tag in ("td", "th"):
            self._emit(" ")
        elif tag == "sup":
            self._emit("^{")
        elif tag == "sub":
            self._emit("_{")
        self._emit(self.get_starttag_text() or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.handle_starttag(tag, attrs)
        elif not self._skip:
            self._emit(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag == "title":
            self._in_title = False
            return
        if tag == "a" and self._anchor is not None:
            self._close_anchor()
            return
        self._emit(f"</{tag}>")
        if tag in ("sup", "sub"):
            self._emit("}")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        data = replace_special_chars(data)
        if self._in_title:
            self.title.append(data)
            return
        if self._anchor is not None:
            self._anchor[2].append(data)
        self._emit(html.escape(data, quote=False))

    def _close_anchor(self) -> None:
        assert self._anchor is not None
        href, raw, text_parts = self._anchor
        self._anchor = None
        text = _WHITESPACE_RE.sub(" ", "".join(text_parts)).strip()
        rendered = None
        if text and href.startswith("#"):
            rendered = text
        elif text:
            rendered = self.table.render(href, text)
        # Image-only and unfollowable links keep their content (an image placeholder, plain text).
        self.out.append(html.escape(rendered, quote=False) if rendered is not None else "".join(raw))

    def close(self) -> None:
        super().close()
        if self._anchor is not None:
            self._close_anchor()


def _html2text(markup: str) -> str:
    import html2text

    class _Plain(html2text.HTML2Text):
        def handle_data(self, data: str, entity_char: bool = False) -> None:
            # `entity_char=True` is html2text's only switch that skips Markdown escaping.
            super().handle_data(data, entity_char=True)

    converter = _Plain(bodywidth=0)
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_tables = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.single_line_break = False
    return str(converter.handle(markup))


def _number_images(text: str) -> str:
    counter = iter(range(1 << 30))

    def replace(match: re.Match[str]) -> str:
        index = next(counter)
        alt = match.group(1).strip()
        return f"[Image {index}: {alt}]" if alt else f"[Image {index}]"

    return _IMG_RE.sub(replace, text)


def _tidy(text: str) -> str:
    text = _EMPTY_LINE_RE.sub("", text.strip())
    return _EXTRA_NEWLINE_RE.sub("\n\n", text)


def _with_url(url: str, text: str) -> str:
    return f"\nURL: {url}\n{text}"


def _fallback_title(title: str | None, url: str) -> str:
    """The cleaned, capped title (`clean_title`), else the URL's domain."""
    return clean_title(title or "") or clean_title(get_domain(url))


def html_to_page(markup: str, url: str, title: str | None = None) -> Page:
    """Convert an HTML document fetched from `url` into a page (title: given, else `<title>`, else domain)."""
    table = _LinkTable(url)
    rewriter = _Rewriter(table)
    rewriter.feed(markup)
    rewriter.close()
    text = _tidy(_number_images(_html2text("".join(rewriter.out))))
    found_title = _WHITESPACE_RE.sub(" ", "".join(rewriter.title)).strip()
    final_title = _fallback_title(title or found_title, url)
    return Page(url=url, title=final_title, text=_with_url(url, text), links=table.links, source=markup)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_AUTOLINK = re.compile(r"<(https?://[^\s>]+)>")


def markdown_to_page(markdown: str, url: str, title: str | None = None) -> Page:
    """Convert Markdown into a page: inline links and autolinks numbered, images as placeholders.

    The title is the given one, else the first `# heading`, else the domain.
    """
    text = replace_special_chars(markdown)
    counter = iter(range(1 << 30))

    def image(match: re.Match[str]) -> str:
        index, alt = next(counter), match.group(1).strip()
        return f"[Image {index}: {alt}]" if alt else f"[Image {index}]"

    text = _MD_IMAGE.sub(image, text)
    table = _LinkTable(url)

    def link(match: re.Match[str]) -> str:
        label = _WHITESPACE_RE.sub(" ", match.group(1)).strip()
        if match.group(2).startswith("#"):
            return label
        return table.render(match.group(2), label) or label

    text = _MD_LINK.sub(link, text)
    text = _MD_AUTOLINK.sub(lambda m: table.render(m.group(1), m.group(1)) or m.group(1), text)
    if not title:
        heading = re.search(r"^#\s+(.+)$", markdown, flags=re.MULTILINE)
        title = heading.group(1).strip() if heading else None
    return Page(
        url=url,
        title=_fallback_title(title, url),
        text=_with_url(url, _tidy(text)),
        links=table.links,
        source=markdown,
    )


def text_to_page(text: str, url: str, title: str | None = None) -> Page:
    """Plain text as a page (no links); the title defaults to the first non-empty line."""
    if not title:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = first[:120]
    body = _tidy(replace_special_chars(text))
    return Page(url=url, title=_fallback_title(title, url), text=_with_url(url, body), source=text)


def pdf_to_page(data: bytes, url: str, title: str | None = None) -> Page:
    """Extract a PDF's text with pypdf (the `browser` extra); raises ImportError when it is missing."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    parts = [page.extract_text() or "" for page in reader.pages]
    meta_title = None
    if reader.metadata is not None and reader.metadata.title:
        meta_title = str(reader.metadata.title)
    page = text_to_page("\n\n".join(parts), url, title or meta_title)
    return Page(url=page.url, title=page.title, text=page.text, source=None)
