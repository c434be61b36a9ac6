"""Credentials out of log lines: `redact_url` (issue 13, point 6).

RPC providers put API keys in a URL's user info, path (``/v3/<key>``) or query (``?apikey=``),
and database DSNs carry a password, so a URL is logged as scheme, host and port only.
"""

import re
from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """A URL fit for a log line: scheme, host and port only.

    RPC providers put API keys in the user info, the path (``/v3/<key>``) or the query
    (``?apikey=``), so all three are replaced by ``***`` when present.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***" if url else ""
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if parts.username or parts.password else "") + host + port
    path = "/***" if parts.path.strip("/") else ""
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """``text`` (an exception's message, say) with every URL in it redacted: HTTP client errors
    quote the URL they failed on, API key and all."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)
