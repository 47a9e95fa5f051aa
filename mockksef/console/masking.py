"""Secrets out of what the console shows: tokens, keys and signatures are cut to a stub.

The console shows captured headers and bodies to people learning to read them;
what they need is the shape ("a JWT was sent", "a KSeF token of NIP 5265877635"),
never a value they could reuse. A masked value keeps its first few characters
and its length: ``eyJhbG…[masked, 812]``.

Masked: ``Authorization``/cookie headers; JSON values under secret-looking keys
(token, key, secret, password, signature, encrypted…, certificate…); and, in any
text, JWTs, KSeF tokens (their secret part), PEM blocks (private keys whole) and
the XML-DSig elements of a XAdES document; and any unbroken base64/hex run of
60 characters or more (encrypted content, a secret cut short by the capture limit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

KEEP = 6

SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-admin-token"}
)
# JSON keys whose string values are secrets or key material in KSeF bodies.
_SECRET_KEY = re.compile(
    r"token|secret|password|privatekey|private_key|signature|encrypted|symmetrickey|"
    r"initializationvector|certificate$|^certificate|^key$",
    re.IGNORECASE,
)
# Fields that look like secrets by name but are public references.
_PUBLIC_KEYS = frozenset(
    {"referencenumber", "tokenreference", "certificateserialnumber", "certificatename"}
)

# A JWT, or what is left of one after a cut (base64url JSON always starts "eyJ").
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}")
# {reference}|nip-{nip}|{secret}: the reference and the context are public, the secret is not.
_KSEF_TOKEN = re.compile(
    r"(\d{8}-[A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}\|[^|\s\"']+\|)([0-9a-fA-F]{16,})"
)
# Any long unbroken run of base64/hex: encrypted content, keys, a JWT cut by the capture limit.
_BLOB = re.compile(r"[A-Za-z0-9+/_=-]{60,}")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?(?:-----END \1-----|\Z)")
_XML_SECRET = re.compile(
    r"(<(?:[\w.-]+:)?(SignatureValue|X509Certificate|DigestValue|EncryptedKey|CipherValue)\b[^>]*>)"
    r"([^<]+)(</(?:[\w.-]+:)?\2>)"
)


def stub(value: str) -> str:
    """The first characters and the length of a secret."""
    if len(value) <= KEEP:
        return f"…[masked, {len(value)}]"
    return f"{value[:KEEP]}…[masked, {len(value)}]"


def mask_text(text: str) -> str:
    """Mask every secret pattern found in free text (XML, logs, form bodies)."""

    def pem(match: re.Match[str]) -> str:
        label = match.group(1)
        if "PRIVATE" in label:
            return f"-----BEGIN {label}----- …[masked] -----END {label}-----"
        return f"-----BEGIN {label}----- {stub(match.group(0))} -----END {label}-----"

    text = _PEM.sub(pem, text)
    text = _XML_SECRET.sub(lambda m: m.group(1) + stub(m.group(3).strip()) + m.group(4), text)
    text = _KSEF_TOKEN.sub(lambda m: m.group(1) + stub(m.group(2)), text)
    text = _JWT.sub(lambda m: stub(m.group(0)), text)
    return _BLOB.sub(lambda m: stub(m.group(0)), text)


def mask_json(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: mask_json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v, key) for v in value]
    if isinstance(value, str):
        lowered = key.lower()
        if lowered not in _PUBLIC_KEYS and _SECRET_KEY.search(lowered) and len(value) > KEEP:
            return stub(value)
        return mask_text(value)
    return value


def mask_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {stub(rest)}" if rest else stub(value)
        out.append((name, mask_text(value)))
    return out


def mask_body(body: bytes, content_type: str | None, limit: int) -> str:
    """A body as display text: masked, pretty JSON when it is JSON, a note when binary."""
    if not body:
        return ""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"[binary, {len(body)} B{' ' + media if media else ''}]"
    if "json" in media or (not media and text.lstrip()[:1] in ("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            pass
        else:
            return json.dumps(mask_json(data), ensure_ascii=False, indent=2)[:limit]
    if "\x00" in text:
        return f"[binary, {len(body)} B]"
    return mask_text(text)[:limit]
