"""The URL guard, as a table: what is refused and why, with a resolver passed in."""

from __future__ import annotations

import pytest

from schemas.urlguard import UnsafeUrl, check_url, system_resolver

PUBLIC = {"example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}


def resolver(host: str) -> list[str]:
    return {"localtest.me": ["127.0.0.1"], "rebind.example": ["8.8.8.8", "10.0.0.5"], **PUBLIC}[host]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://127.0.0.1/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[fc00::1]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[2002:7f00:1::]/", "6to4 address embedding 127.0.0.1, a loopback"),
        ("http://[2002:a9fe:a9fe::1]/", "embedding 169.254.169.254, a cloud metadata"),
        ("http://[2002:808:808::1]/", "a 6to4 address, deprecated"),
        ("http://[64:ff9b::10.0.0.1]/", "NAT64 address embedding 10.0.0.1, a private"),
        ("http://[64:ff9b:1::8.8.8.8]/", "local-use NAT64"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "private"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://localtest.me/", "resolves to 127.0.0.1"),
        ("http://rebind.example/", "resolves to 10.0.0.5"),
        ("http://example.com:99999/", "malformed"),
        ("https://example.com/" + "a" * 2100, "longer than"),
        ("http://example.com:0/", "port must be"),
        ("http://example.com:/", "port must be"),
        ("http://exa\x01mple.com/", "control characters"),
        ("http://example.com/x\x7f", "control characters"),
        ("http://crm..example.com/", "not a valid host name"),
        (f"http://{'a' * 64}.example.com/", "not a valid host name"),
    ],
)
def test_unsafe_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url, allow_private=False, resolve=resolver)


@pytest.mark.parametrize("url", ["https://example.com/hook?a=1", "http://example.com:8080/x", "http://8.8.8.8/",
                                 "http://[64:ff9b::8.8.8.8]/",
                                 "https://example.com/caf\u00e9?q=\u00e4"])
def test_public_urls_pass(url: str) -> None:
    check_url(url, allow_private=False, resolve=resolver)


def test_private_urls_pass_when_allowed_but_syntax_still_counts() -> None:
    check_url("http://127.0.0.1:9000/hook", allow_private=True, resolve=resolver)
    with pytest.raises(UnsafeUrl):
        check_url("gopher://127.0.0.1/", allow_private=True, resolve=resolver)


def test_the_system_resolver_refuses_a_name_the_idna_codec_cannot_encode() -> None:
    with pytest.raises(UnsafeUrl, match="not a valid host name"):
        system_resolver("crm..example.com")
