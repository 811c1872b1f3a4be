"""The `browser` built-in tool: trained search / open / find display, citations, local and web backends.

`BrowserTool` is the tool; a `SearchBackend` (`LocalCorpusBackend`, `ExaBackend`, `YouComBackend`,
`WebBackend`, or the in-memory `FakeSearchBackend`) searches and fetches; `WebFetcher` fetches web pages
under a `UrlPolicy` that refuses loopback, private, link-local and metadata addresses;
`resolve_citations` turns `【cursor†Lx-Ly】` citations in an answer into links.
"""

from agentoss.tools.browser.backend import FakeSearchBackend, FetchError, SearchBackend, SearchResult
from agentoss.tools.browser.citations import Citation, CitedText, UnresolvedCitation, resolve_citations
from agentoss.tools.browser.corpus import LocalCorpusBackend
from agentoss.tools.browser.fetch import WebBackend, WebFetcher
from agentoss.tools.browser.page import Page
from agentoss.tools.browser.policy import UrlPolicy, UrlRefused
from agentoss.tools.browser.providers import ExaBackend, YouComBackend
from agentoss.tools.browser.tool import BrowserTool

__all__ = [
    "BrowserTool",
    "Citation",
    "CitedText",
    "ExaBackend",
    "FakeSearchBackend",
    "FetchError",
    "LocalCorpusBackend",
    "Page",
    "SearchBackend",
    "SearchResult",
    "UnresolvedCitation",
    "UrlPolicy",
    "UrlRefused",
    "WebBackend",
    "WebFetcher",
    "YouComBackend",
    "resolve_citations",
]
