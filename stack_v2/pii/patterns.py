"""Emails and IP addresses by precise patterns, with the paper's exceptions (docs/the-stack-v2.md §8.1) and ours.

The paper finds them with BigScience's regexes (bigcode-dataset ``pii/utils/emails_ip_addresses_detection.py``)
and skips an IP that is invalid, private or a popular DNS server, and an ``x.x.x.x`` of single digits
(usually a version) unless "dns" or "server" is near. What is not PII here, so kept, and why:

Emails (a placeholder is told by its domain: ``jane.doe@acme-robotics.com`` is someone's, ``jane.doe@example.com``
is not)
- reserved and placeholder domains: RFC 2606/6761 names (``example.com`` and its subdomains, any ``example``
  label, ``*.test``, ``*.invalid``, ``*.localhost``, ``*.local``), the usual stand-ins (``yourdomain.com``,
  ``domain.com``, ...) and one-letter domains (``a@b.com``, made up in tests);
- service mailboxes, which are no one's: ``git@`` (SSH remotes), ``noreply@``;
- a last label that is not a plausible top-level domain: two letters (country codes) or one of the generic
  TLDs listed below; this keeps ``icon@2x.png``, ``x@self.weight`` (a matrix product) and ``pkg@1.2.3``.
  Addresses are ASCII (internationalised mailboxes are not matched).
IPv4
- invalid (``ipaddress`` rejects octets over 255 and leading zeros), not globally routable (private,
  loopback, link-local, documentation TEST-NETs, CGNAT, reserved), multicast (protocol constants such as
  SSDP's 239.255.255.250), or a popular DNS server (the paper's list);
- made-up test addresses: consecutive octets (``1.2.3.4``, ``14.15.16.17``), digits counting up
  (``12.34.56.78``, ``123.45.67.89``), one octet repeated (``42.42.42.42``), repeated-digit octets;
- version-like: four single digits (the paper's rule, unless "dns"/"server" within 100 characters); a version
  context before it on its line (``version``, ``release``, ``section``, ``build``, ``==``, ``>=``, another
  dotted version, a Maven coordinate ``g:a:``, an image tag ``org/image:``) or a suffix (``-r1``, ``-beta``);
  or a version word within 100 characters (``version``, ``release``, ``section``) when the address's own
  line says nothing of networking (``ip``, ``addr``, ``host``, ``server``, ``dns``, ``socket``...);
- part of a longer dotted number (``1.2.3.4.5``, an OID) or glued to a word (``v1.2.3.4``).
IPv6 (the paper's regex also matched Python slices such as ``x[1::2]``)
- only global unicast addresses (``2000::/3``) that ``ipaddress`` calls global, written with at least three
  groups; the same DNS providers' IPv6 resolvers are kept.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import NamedTuple

EMAIL = "email"
IP_ADDRESS = "ip_address"


class Match(NamedTuple):
    kind: str
    value: str
    start: int  # offsets in the string that was searched
    end: int


# --- emails ---

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])"
    r"([A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62}[A-Za-z0-9_+-])?"  # local part: no leading or trailing dot
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"([A-Za-z]{2,24}))"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
# Generic TLDs seen in real addresses (every two-letter label is taken as a country code).
GENERIC_TLDS = frozenset(
    """
    com org net edu gov mil int info biz name pro mobi asia aero coop museum jobs travel tel cat
    io dev app tech online site xyz club cloud email page blog design digital systems solutions software
    space store top live work world agency academy studio network services company group global today
    science engineering consulting media news social life tools zone one link website center support
    """.split()
)  #  # noqa: SIM905 (a word list reads better)
RESERVED_EMAIL_DOMAINS = frozenset(
    {
        "example.com",
        "example.org",
        "example.net",
        "example.edu",
        "domain.com",
        "domain.tld",
        "yourdomain.com",
        "your-domain.com",
        "mydomain.com",
        "yourcompany.com",
        "company.com",
        "foo.com",
        "bar.com",
        "foobar.com",
        "foo.bar",
        "email.tld",
        "foo.org",
        "bar.org",
        "foo.net",
        "bar.net",
        "test.com",
        "test.org",
        "nodomain.com",
        "somedomain.com",
    }
)
RESERVED_EMAIL_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local", ".localdomain", ".internal")
SERVICE_MAILBOXES = frozenset({"git", "noreply", "no-reply", "donotreply", "do-not-reply"})


def is_kept_email(address: str) -> bool:
    """True when the address is a placeholder or reserved, not a person's."""
    local, _, domain = address.lower().rpartition("@")
    tld = domain.rsplit(".", 1)[-1]
    if len(tld) != 2 and tld not in GENERIC_TLDS:
        return True
    labels = domain.split(".")
    if len(labels[-2]) == 1:  # a@b.com, x@y.org: made up
        return True
    return (
        local in SERVICE_MAILBOXES
        or ".".join(labels[-2:]) in RESERVED_EMAIL_DOMAINS
        or domain.endswith(RESERVED_EMAIL_SUFFIXES)
        or "example" in labels
    )


def find_emails(text: str, lo: int = 0, hi: int | None = None) -> list[Match]:
    """Personal-looking addresses in ``text[lo:hi]`` (offsets in ``text``)."""
    hi = len(text) if hi is None else hi
    return [
        Match(EMAIL, m.group(1), m.start(1), m.end(1))
        for m in _EMAIL.finditer(text, lo, hi)
        if not is_kept_email(m.group(1))
    ]


# --- IP addresses ---

POPULAR_DNS_SERVERS = frozenset(
    {
        "8.8.8.8",
        "8.8.4.4",
        "1.1.1.1",
        "1.0.0.1",
        "9.9.9.9",
        "149.112.112.112",
        "208.67.222.222",
        "208.67.220.220",
        "76.76.19.19",
        "76.223.122.150",
        "8.26.56.26",
        "8.20.247.20",
        "94.140.14.14",
        "94.140.15.15",
        # the same providers' IPv6 resolvers (Google, Cloudflare, Quad9, OpenDNS, AdGuard)
        "2001:4860:4860::8888",
        "2001:4860:4860::8844",
        "2606:4700:4700::1111",
        "2606:4700:4700::1001",
        "2620:fe::fe",
        "2620:fe::9",
        "2620:119:35::35",
        "2620:119:53::53",
        "2a10:50c0::ad1:ff",
        "2a10:50c0::ad2:ff",
    }
)
_IPV4 = re.compile(r"(?<![A-Za-z0-9_.])(\d{1,3}(?:\.\d{1,3}){3})(?![A-Za-z0-9_]|\.[A-Za-z0-9])", re.ASCII)
_IPV6 = re.compile(r"(?<![A-Za-z0-9_:.])([23][0-9A-Fa-f]{3}(?::[0-9A-Fa-f]{0,4}){2,7})(?![A-Za-z0-9_:])")
# Version contexts: a keyword or comparison just before the address on its line, or a version word nearby
# (within 100 characters) when nothing on the address's own line speaks of networking.
_VERSION_BEFORE = re.compile(
    r"(?:version|\bver\b|release|section|§|\brev\b|build|firmware|\bsdk\b|\btag\b)[^\n]{0,40}$"
    r"|(?:==|>=|<=|~=|!=|\^|~>?)\s*['\"]?$|\d+\.\d+\.\d+[^\n]{0,30}$"
    r"|[\w.-]+:[\w.-]+:$|/[\w.-]+:$",  # Maven coordinates (group:artifact:1.2.3.4), image tags (org/mq:9.3.0.25)
    re.IGNORECASE,
)
_VERSION_AFTER = re.compile(r"-[A-Za-z0-9]")  # 9.3.0.25-r1, 1.2.3.4-beta
_VERSION_NEAR = re.compile(r"version|release|section|vrmf|builddate", re.IGNORECASE)
_NETWORK_LINE = re.compile(
    r"\bip|addr|host|server|dns|inet|route|gateway|proxy|remote|connect|socket|bind|listen", re.IGNORECASE
)
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def is_placeholder_ipv4(value: str) -> bool:
    """Made-up test addresses: 1.2.3.4, 14.15.16.17 (consecutive octets), 12.34.56.78 and 123.45.67.89 (the
    digits count up), 42.42.42.42 (one octet repeated), 11.22.33.44 (each octet one repeated digit)."""
    octets = [int(part) for part in value.split(".")]
    steps = {b - a for a, b in itertools.pairwise(octets)}
    digits = value.replace(".", "")
    ascending = all(int(b) - int(a) == 1 for a, b in itertools.pairwise(digits))
    return (
        steps in ({1}, {-1}, {0})
        or ascending
        or all(len(part) > 1 and len(set(part)) == 1 for part in value.split("."))
    )


def _version_context(text: str, start: int, end: int) -> bool:
    if _VERSION_AFTER.match(text, end):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    if _VERSION_BEFORE.search(text, max(line_start, start - 60), start):
        return True
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    return bool(_VERSION_NEAR.search(text, max(0, start - 100), end + 100)) and not _NETWORK_LINE.search(line)


def _public_ipv4(value: str, text: str, start: int, end: int) -> bool:
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast or value in POPULAR_DNS_SERVERS or is_placeholder_ipv4(value):
        return False
    if len(value) == 7:  # the paper's x.x.x.x rule
        near = text[max(0, start - 100) : end + 100].lower()
        if "dns" not in near and "server" not in near:
            return False
    return not _version_context(text, start, end)


def _public_ipv6(value: str) -> bool:
    if sum(1 for group in value.split(":") if group) < 3:
        return False
    try:
        ip = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return ip in _IPV6_GLOBAL_UNICAST and ip.is_global and str(ip) not in POPULAR_DNS_SERVERS


def find_ips(text: str, lo: int = 0, hi: int | None = None) -> list[Match]:
    """Public IPv4/IPv6 addresses in ``text[lo:hi]`` (offsets in ``text``; the rest is context)."""
    hi = len(text) if hi is None else hi
    found = [
        Match(IP_ADDRESS, m.group(1), m.start(1), m.end(1))
        for m in _IPV4.finditer(text, lo, hi)
        if _public_ipv4(m.group(1), text, m.start(1), m.end(1))
    ]
    found += [
        Match(IP_ADDRESS, m.group(1), m.start(1), m.end(1))
        for m in _IPV6.finditer(text, lo, hi)
        if _public_ipv6(m.group(1))
    ]
    return found


def ip_version(value: str) -> int:
    return 6 if ":" in value else 4
