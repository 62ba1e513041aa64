"""Fetching a live feed's address without letting it reach the server's own network (SSRF).

Rules (docs/datastore.md, "Feed addresses"):
- ``https`` only; ``http`` only to a host of ``ATLAS_FEED_ALLOW`` (a council's internal feed servers);
- no credentials in the address's host part other than user:password (kept secret, atlas/feeds.py);
- the host name is resolved, and *every* address it resolves to must be public: not loopback, private,
  link-local (169.254.169.254, the cloud metadata address), multicast, reserved, unspecified (0.0.0.0, ::),
  shared (100.64/10), unique-local (fc00::/7), nor any of these written as an IPv4-mapped or
  -translated IPv6 address (``::ffff:127.0.0.1``), or as a decimal, octal, hex or short IPv4 form
  (``2130706433``, ``0x7f.1``, ``127.1``), which are refused as they stand: an address is written out in
  full or not at all;
- except the hosts and networks of ``ATLAS_FEED_ALLOW`` (empty by default);
- the connection goes to the very address that was checked (the name is not resolved again, so a DNS answer
  that changes between the check and the connection, DNS rebinding, reaches nothing), and each redirect
  (at most ``MAX_REDIRECTS``) is checked again in the same way before it is followed;
- the whole fetch has a deadline (ATLAS_FEED_TIMEOUT) and a size limit (ATLAS_UPLOAD_MAX_BYTES).

Refusals and failures raise ``Refused`` with a message that says what failed and nothing of what is at
an address (no "connection refused" versus "timed out", no server banner).

``resolver`` (host, port) -> [ip, ...] is injectable (an argument, or this module's ``RESOLVER`` for every
fetch): tests never need DNS, and never send a request outside the loopback range.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

from atlas import settings

__all__ = ["MAX_REDIRECTS", "Refused", "Resolver", "check_url", "fetch", "system_resolver"]

MAX_REDIRECTS = 3
Resolver = Callable[[str, int], Sequence[str]]
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*\.?$")
_DOTTED = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: How host names are resolved when no resolver is passed (None: the system's). Tests set one.
RESOLVER: Resolver | None = None


class Refused(ValueError):
    """The address may not be fetched, or fetching it failed: the message says which, plainly."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Refused(f"the feed's host {host!r} could not be found") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def public(address: str) -> bool:
    """Whether ``address`` (an IP, written in full) is a public unicast address (also inside IPv6 forms)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None and not public(str(inner)):
            return False
    if ip.version == 4 and ip in _SHARED:
        return False
    return bool(ip.is_global) and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                       or ip.is_reserved or ip.is_unspecified
                                       or getattr(ip, "is_site_local", False))


def _allow_list(allow: Sequence[str]) -> tuple[set[str], list[ipaddress._BaseNetwork]]:
    hosts: set[str] = set()
    nets = []
    for item in allow:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower().rstrip("."))
    return hosts, nets


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked IP the connection goes to
    path: str  # path and query
    user: str | None
    password: str | None


def check_url(url: str, resolver: Resolver | None = None, allow: Sequence[str] | None = None) -> Target:
    """The checked target of ``url`` (see the module's rules), or Refused saying why."""
    allow = settings.load().feed_allow if allow is None else allow
    hosts, nets = _allow_list(allow)
    if any(c in url for c in "\r\n\t ") or len(url) > 2000:
        raise Refused("the feed's address has spaces or control characters in it")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("the feed's address is not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("https", "http") or not host:
        raise Refused("a feed's address is an https:// address")
    port = port or (443 if scheme == "https" else 80)
    literal: ipaddress._BaseAddress | None
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is None:
        if re.fullmatch(r"[0-9a-fx.]+", host) and not re.search(r"[g-wyz]", host) and (
                host.replace(".", "").isdigit() or host.startswith("0x") or ".0x" in host):
            # 2130706433, 0x7f.1, 127.1, 0177.0.0.1: forms a resolver reads as IPv4 but nobody writes.
            raise Refused("a feed's address names its host, or an IP address written in full (a.b.c.d)")
        if not _HOST.match(host):
            raise Refused("the feed's host is not a valid host name")
    elif literal.version == 4 and not _DOTTED.match(host):
        raise Refused("a feed's address names its host, or an IP address written in full (a.b.c.d)")
    host_allowed = host in hosts
    addresses = [str(literal)] if literal is not None else list((resolver or RESOLVER or system_resolver)(host, port))
    if not addresses:
        raise Refused(f"the feed's host {host!r} could not be found")
    internal = True  # every address in an allowed network (or the host allowed by name)
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise Refused(f"the feed's host {host!r} could not be found") from None
        if host_allowed or any(ip in n for n in nets):
            continue
        internal = False
        if not public(address):
            raise Refused("the feed's address is not a public internet address (refused; a council's own "
                          "feed servers are allowed by ATLAS_FEED_ALLOW)")
    if scheme == "http" and not internal:
        raise Refused("a feed's address is an https:// address (http only for a host of ATLAS_FEED_ALLOW)")
    return Target(scheme, host, port, addresses[0], (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                  parts.username, parts.password)


def fetch(url: str, limit: int, resolver: Resolver | None = None, allow: Sequence[str] | None = None,
          timeout: float | None = None) -> bytes:
    """The body at ``url`` (at most ``limit`` bytes), every hop checked; Refused otherwise."""
    deadline = time.monotonic() + (timeout or settings.load().feed_timeout)
    for _ in range(MAX_REDIRECTS + 1):
        target = check_url(url, resolver, allow)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Refused("the feed took too long to answer")
        status, location, body = _get(target, limit, remaining, deadline)
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if status != 200:
            raise Refused(f"the feed answered HTTP {status}")
        return body
    raise Refused(f"the feed redirected more than {MAX_REDIRECTS} times")


def _get(t: Target, limit: int, remaining: float, deadline: float) -> tuple[int, str | None, bytes]:
    host = f"[{t.host}]" if ":" in t.host else t.host  # an IPv6 literal, bracketed as in its URL
    headers = {"Host": host if t.port in (80, 443) else f"{host}:{t.port}",
               "User-Agent": "neighbourhood-atlas-feed/2", "Accept": "text/csv, */*;q=0.5"}
    if t.user is not None:
        headers.update(urllib3.make_headers(basic_auth=f"{t.user}:{t.password or ''}"))
    timeout = urllib3.Timeout(connect=min(remaining, 10), read=remaining)
    if t.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            t.address, t.port, timeout=timeout, retries=False, maxsize=1, cert_reqs="CERT_REQUIRED",
            server_hostname=t.host, assert_hostname=t.host)
    else:
        pool = urllib3.HTTPConnectionPool(t.address, t.port, timeout=timeout, retries=False, maxsize=1)
    try:
        response = pool.urlopen("GET", t.path, headers=headers, redirect=False, preload_content=False,
                                assert_same_host=False)
        try:
            if response.status in (301, 302, 303, 307, 308):
                return response.status, response.headers.get("Location"), b""
            if response.status != 200:
                return response.status, None, b""
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise Refused(f"the feed is larger than {limit:,} bytes")
            chunks, size = [], 0
            for chunk in response.stream(65536):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"the feed is larger than {limit:,} bytes")
                if time.monotonic() > deadline:
                    raise Refused("the feed took too long to answer")
                chunks.append(chunk)
            return 200, None, b"".join(chunks)
        finally:
            response.release_conn()
    except urllib3.exceptions.SSLError:
        raise Refused("the feed's https certificate could not be verified") from None
    except urllib3.exceptions.NewConnectionError:  # (a subclass of the connect timeout, in urllib3 1.26)
        raise Refused("the feed could not be fetched (no connection or a broken answer)") from None
    except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise Refused("the feed took too long to answer") from None
    except (urllib3.exceptions.HTTPError, OSError):
        raise Refused("the feed could not be fetched (no connection or a broken answer)") from None
    finally:
        pool.close()
