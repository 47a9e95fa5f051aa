"""Look-up: whatever a customer pasted -> the catalogue codes and the scenarios behind it.

Support staff get tickets such as "KSeF2 GetInvoicesAsync – Dostęp zabroniony",
"Zbyt wiele żądań", "21418" or a whole JSON error body. ``explain(text)``
answers with

* **codes**: KSeF exception codes (``errors.CATALOGUE``, official Polish text
  and English gloss), HTTP statuses as KSeF uses them, 403 reason codes, and
  the status codes of authentication operations and of invoices in a session
  (the 450 a connector shows after ``GET /auth/{ref}``);
* **scenarios**: the catalogue scenarios whose ``explain`` block (symptom,
  cause, fix in Polish and English), description or tags match.

Matching is deliberately forgiving because pasted texts are: diacritics are
ignored ("Dostep zabroniony"), Polish inflections meet on a shared stem
("żądań" / "żądania"), small typos pass, numbers count only when they are a
known code, and words that appear nowhere in the catalogue (trace ids,
timestamps, the connector's own method names) neither help nor hurt.
Colloquial phrases that name an HTTP status ("Nieautoryzowany dostęp",
"Too many requests") are listed with the status they mean.

Used by the console's look-up view and by ``mockksef explain TEXT``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache
from typing import Any

from mockksef.errors import CATALOGUE, FORBIDDEN_REASONS, UNAUTHORIZED_DETAIL
from mockksef.scenarios import Scenario, ScenarioError, catalogue_names, resolve
from mockksef.services.auth import models as auth_models
from mockksef.services.sessions import models as session_models
from mockksef.services.tokens import models as token_models

# -- the code corpus -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpStatus:
    status: int
    polish: str
    english: str
    meaning_pl: str
    meaning_en: str
    # Phrases people paste for this status (clients' and proxies' wordings, both languages).
    aliases: tuple[str, ...] = ()


# What each status means when KSeF answers it; the titles are the ones clients print.
HTTP_STATUSES: dict[int, HttpStatus] = {
    s.status: s
    for s in (
        HttpStatus(
            400,
            "Nieprawidłowe żądanie",
            "Bad Request",
            "KSeF odrzucił żądanie; kod wyjątku (np. 21405) w treści mówi dlaczego.",
            "KSeF refused the request; the exception code in the body (e.g. 21405) says why.",
            ("bad request", "nieprawidlowe zadanie", "blad walidacji"),
        ),
        HttpStatus(
            401,
            "Brak uwierzytelnienia",
            "Unauthorized",
            "Token dostępowy (JWT) brakuje, wygasł, jest z innego środowiska albo unieważniony "
            "(np. po resecie DEMO). Odśwież token albo zaloguj się ponownie.",
            "The access token (JWT) is missing, expired, from another environment or revoked "
            "(e.g. after a DEMO reset). Refresh it or log in again.",
            (
                "unauthorized",
                "unauthorised",
                "nieautoryzowany dostep",
                "brak autoryzacji",
                "wymagane jest uwierzytelnienie",
                "not authenticated",
                "authentication required",
            ),
        ),
        HttpStatus(
            403,
            "Dostęp zabroniony",
            "Forbidden",
            "Token jest ważny, ale nie pozwala na tę operację: brak uprawnienia, inny adres IP, "
            "niedozwolona metoda logowania (reasonCode w treści).",
            "The token is valid but does not allow this operation: a missing permission, "
            "another IP address, an auth method not allowed (reasonCode in the body).",
            (
                "forbidden",
                "dostep zabroniony",
                "access denied",
                "brak uprawnien",
                "odmowa dostepu",
                "permission denied",
            ),
        ),
        HttpStatus(
            404,
            "Nie znaleziono",
            "Not Found",
            "Nieznany adres: zła ścieżka, literówka albo brak prefiksu /v2 w adresie bazowym.",
            "Unknown address: a wrong path, a typo or a base URL without /v2.",
            ("not found", "nie znaleziono"),
        ),
        HttpStatus(
            405,
            "Niedozwolona metoda",
            "Method Not Allowed",
            "Ścieżka istnieje, ale nie dla tej metody HTTP (GET zamiast POST…).",
            "The path exists, but not for this HTTP method (GET instead of POST…).",
            ("method not allowed",),
        ),
        HttpStatus(
            410,
            "Zasób usunięty",
            "Gone",
            "Operacja jest starsza niż okres przechowywania albo adres KSeF 1.0 został wyłączony.",
            "The operation is past its retention period, or a KSeF 1.0 address was retired.",
            ("gone", "interfejs ksef 1 0 zostal wylaczony"),
        ),
        HttpStatus(
            413,
            "Treść za duża",
            "Payload Too Large",
            "Treść żądania przekracza limit rozmiaru.",
            "The request body is larger than allowed.",
            ("payload too large", "request entity too large"),
        ),
        HttpStatus(
            415,
            "Nieobsługiwany typ treści",
            "Unsupported Media Type",
            "Nagłówek Content-Type nie pasuje do operacji (np. XML zamiast JSON).",
            "The Content-Type header does not fit the operation (e.g. XML instead of JSON).",
            ("unsupported media type",),
        ),
        HttpStatus(
            429,
            "Zbyt wiele żądań",
            "Too Many Requests",
            "Przekroczony limit wywołań (na sekundę, minutę lub godzinę, per kontekst i adres IP). "
            "Odczekaj tyle sekund, ile podaje nagłówek Retry-After.",
            "A rate limit is exceeded (per second, minute or hour, per context and IP address). "
            "Wait the seconds the Retry-After header gives.",
            (
                "too many requests",
                "zbyt wiele zadan",
                "przekroczono limit",
                "rate limit",
                "throttled",
                "retry after",
            ),
        ),
        HttpStatus(
            500,
            "Błąd serwera",
            "Internal Server Error",
            "Nieoczekiwany błąd po stronie KSeF; ponów później.",
            "An unexpected error on the KSeF side; retry later.",
            ("internal server error", "wystapil nieoczekiwany blad"),
        ),
        HttpStatus(
            502,
            "Błąd bramki",
            "Bad Gateway",
            "Bramka przed KSeF nie dostała odpowiedzi; zwykle chwilowe, ponów z przerwą.",
            "The gateway in front of KSeF got no answer; usually transient, retry with a pause.",
            ("bad gateway",),
        ),
        HttpStatus(
            503,
            "Usługa niedostępna",
            "Service Unavailable",
            "Prace serwisowe albo przeciążenie; ponów po czasie z nagłówka Retry-After.",
            "Maintenance or overload; retry after the Retry-After time.",
            (
                "service unavailable",
                "usluga niedostepna",
                "prace serwisowe",
                "maintenance",
            ),
        ),
        HttpStatus(
            504,
            "Przekroczony czas bramki",
            "Gateway Timeout",
            "Odpowiedź nie przyszła na czas; sprawdź status operacji zanim wyślesz ją ponownie.",
            "The answer did not come in time; check the operation's status before sending again.",
            ("gateway timeout", "timeout", "przekroczono czas", "timed out"),
        ),
    )
}

# English glosses of the 403 reason codes (the Polish texts are the official ones).
FORBIDDEN_ENGLISH: dict[str, str] = {
    "missing-permissions": "The token or person lacks a permission the operation requires.",
    "ip-not-allowed": "The request comes from an IP address the login did not allow.",
    "insufficient-resource-access": "No access to this particular resource.",
    "auth-method-not-allowed": "This operation is not available for the authentication method used.",
    "security-service-blocked": "Blocked by KSeF's security mechanisms (suspected abuse).",
    "context-type-not-allowed": "The operation is not available for this type of context.",
}

AUTH_STATUS_ENGLISH: dict[int, str] = {
    100: "Authentication in progress.",
    200: "Authentication succeeded.",
    415: "Authentication failed: the person or token has no permissions in the context.",
    425: "The authentication was revoked by the user.",
    450: "Authentication failed because of the KSeF token (revoked, unknown, inactive, "
    "another context, bad encoding or encryption).",
    460: "Authentication failed because of the certificate (expired, revoked, untrusted, malformed).",
    470: "Attempt to use a deceased person's credentials.",
    480: "Authentication blocked: suspected security incident.",
    500: "Unknown error.",
    550: "Cancelled by the system; retry.",
}
# Details a 450/460 status carries; pasted on their own they still point at the status.
AUTH_DETAILS: dict[int, tuple[str, ...]] = {
    450: (
        token_models.INVALID_TOKEN,
        token_models.TOKEN_REVOKED,
        token_models.TOKEN_INACTIVE,
        "Token nie może być użyty w kontekście",
        auth_models.BAD_ENCRYPTION,
        auth_models.BAD_ENCODING,
        auth_models.BAD_TIME,
    ),
    460: (
        auth_models.CERT_INVALID_PERIOD,
        auth_models.CERT_CHAIN_ERROR,
        auth_models.CERT_UNTRUSTED,
        auth_models.CERT_REVOKED,
        auth_models.CERT_SUSPENDED,
        auth_models.CERT_MALFORMED,
    ),
}
INVOICE_STATUS_ENGLISH: dict[int, str] = {
    100: "Invoice accepted for processing.",
    150: "Processing.",
    200: "Success: the invoice has a KSeF number.",
    405: "Processing cancelled because of a session error.",
    410: "Wrong scope of permissions.",
    415: "Invoices with attachments cannot be sent by this subject.",
    430: "The invoice file failed verification.",
    435: "The file could not be decrypted.",
    440: "Duplicate invoice: the same number was already accepted (the original's KSeF number is given).",
    450: "Semantic verification failed (FA schema, dates in the future, NIP rules).",
    550: "Cancelled by the system.",
}

KINDS = ("exception", "http", "forbidden", "auth-status", "invoice-status")
KIND_LABELS: dict[str, dict[str, str]] = {
    "exception": {"pl": "Kod wyjątku KSeF", "en": "KSeF exception code"},
    "http": {"pl": "Status HTTP", "en": "HTTP status"},
    "forbidden": {"pl": "Powód odmowy (403)", "en": "403 reason code"},
    "auth-status": {"pl": "Status uwierzytelnienia", "en": "Authentication status"},
    "invoice-status": {"pl": "Status faktury w sesji", "en": "Invoice status in a session"},
}


@dataclass(frozen=True)
class CodeEntry:
    """One thing a customer may quote: a code, its official text and what it means."""

    kind: str
    code: str
    polish: str
    english: str
    http_status: int | None = None
    # Further texts that identify it (aliases, status details); searched, not shown.
    extra: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.code}"


def code_entries() -> list[CodeEntry]:
    """Every entry the look-up knows, from the catalogue and the status tables."""
    out = [
        CodeEntry("exception", str(e.code), e.description, e.english, e.http_status)
        for e in CATALOGUE.values()
    ]
    for status in HTTP_STATUSES.values():
        polish = f"{status.polish}. {status.meaning_pl}"
        english = f"{status.english}. {status.meaning_en}"
        extra = status.aliases + ((UNAUTHORIZED_DETAIL,) if status.status == 401 else ())
        out.append(CodeEntry("http", str(status.status), polish, english, status.status, extra))
    for reason, polish in FORBIDDEN_REASONS.items():
        out.append(
            CodeEntry(
                "forbidden", reason, polish, FORBIDDEN_ENGLISH.get(reason, ""), 403, (reason,)
            )
        )
    for code, polish in auth_models.DESCRIPTIONS.items():
        details = AUTH_DETAILS.get(code, ())
        fixed = auth_models.FIXED_DETAILS.get(code)
        out.append(
            CodeEntry(
                "auth-status",
                str(code),
                polish + (f" ({fixed})" if fixed else ""),
                AUTH_STATUS_ENGLISH.get(code, ""),
                None,
                details,
            )
        )
    for code, polish in session_models.INVOICE_STATUS.items():
        out.append(
            CodeEntry("invoice-status", str(code), polish, INVOICE_STATUS_ENGLISH.get(code, ""))
        )
    return out


# -- text normalisation --------------------------------------------------------------------------

_WORD = re.compile(r"[a-z]+|[0-9]+")
MAX_QUERY_CHARS = 4000
MAX_QUERY_WORDS = 200
# Words too common in tickets and texts to tell anything apart.
STOPWORDS = frozenset(
    """
    a an and are as at be by do for from has have in is it of on or the this to was were with
    i w z na do nie sie jest po o od lub dla przy ze za ze to jak oraz czy ale juz tak
    ksef ksef2 api http https v2 error blad bledu status kod code
    """.split()
)
_FOLD = str.maketrans({"ł": "l", "Ł": "L"})


def fold(text: str) -> str:
    """Lowercase ASCII without diacritics (ł has no decomposition, so it is mapped by hand).

    Whatever is not ASCII after decomposition (dashes, quotes, the combining
    marks) goes: only ASCII letters and digits make words here anyway.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _content(found: Iterable[str]) -> list[str]:
    return [w for w in found if not w.isdigit() and len(w) >= 3 and w not in STOPWORDS]


def _content_words(text: str) -> list[str]:
    return _content(words(text))


def word_match(query: str, word: str) -> float:
    """1.0 for the same word, 0.8 for the same stem or a small typo, else 0."""
    if query == word:
        return 1.0
    shortest, longest = min(len(query), len(word)), max(len(query), len(word))
    prefix = 0
    for a, b in zip(query, word, strict=False):
        if a != b:
            break
        prefix += 1
    # Polish inflects at the end: żądań/żądania, sesji/sesja, tokenu/token.
    if prefix >= 4 and prefix / longest >= 0.6:
        return 0.8
    # A typo (same first letter: that is where people look when they type).
    if shortest >= 6 and query[0] == word[0] and longest <= shortest + 2:
        matcher = SequenceMatcher(None, query, word)
        if matcher.quick_ratio() >= 0.85 and matcher.ratio() >= 0.85:
            return 0.8
    return 0.0


# -- the index -----------------------------------------------------------------------------------


@dataclass
class _Doc:
    words: list[str]
    vocabulary: frozenset[str]
    folded: str


def _doc(texts: Iterable[str]) -> _Doc:
    every = words(" ".join(texts))
    found = _content(every)
    return _Doc(found, frozenset(found), " ".join(every))


@dataclass(frozen=True)
class CodeHit:
    entry: CodeEntry
    score: float
    why: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "kind": e.kind,
            "code": e.code,
            "polish": e.polish,
            "english": e.english,
            "httpStatus": e.http_status,
            "score": round(self.score, 3),
            "why": list(self.why),
        }


@dataclass(frozen=True)
class ScenarioHit:
    scenario: Scenario
    score: float
    why: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.scenario.name

    def to_dict(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "name": s.name,
            "description": s.description,
            "tags": list(s.tags),
            "explain": {lang: dict(block) for lang, block in (s.explain or {}).items()},
            "score": round(self.score, 3),
            "why": list(self.why),
        }


@dataclass(frozen=True)
class Explanation:
    query: str
    codes: tuple[CodeHit, ...] = ()
    scenarios: tuple[ScenarioHit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.codes or self.scenarios)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "codes": [c.to_dict() for c in self.codes],
            "scenarios": [s.to_dict() for s in self.scenarios],
        }


def scenario_texts(scenario: Scenario) -> list[str]:
    texts = [scenario.name.replace("-", " "), scenario.description, " ".join(scenario.tags)]
    for block in (scenario.explain or {}).values():
        texts += [str(v) for v in block.values()]
    for rule in scenario.rules:
        texts += [str(v) for v in (rule.explain or {}).values()]
    return texts


@dataclass
class Explainer:
    """An index over the code tables and a set of scenarios; ``explain`` queries it."""

    scenarios: Sequence[Scenario]
    entries: Sequence[CodeEntry] = field(default_factory=code_entries)
    min_code_score: float = 0.6
    min_scenario_score: float = 0.45

    def __post_init__(self) -> None:
        self._code_docs = [_doc((e.polish, e.english, *e.extra)) for e in self.entries]
        self._scenario_docs = [_doc(scenario_texts(s)) for s in self.scenarios]
        # Rarer words weigh more: "zabroniony" tells more than "token".
        counts: dict[str, int] = {}
        docs = self._code_docs + self._scenario_docs
        for doc in docs:
            for word in doc.vocabulary:
                counts[word] = counts.get(word, 0) + 1
        self._idf = {w: math.log(1 + len(docs) / n) for w, n in counts.items()}
        # By first letter: a stem or a typo of a word starts like it (word_match's rules).
        self._by_initial: dict[str, list[str]] = {}
        for word in counts:
            self._by_initial.setdefault(word[0], []).append(word)
        self._numbers = {
            (e.kind, e.code): i for i, e in enumerate(self.entries) if e.code.isdigit()
        }

    # -- query side --------------------------------------------------------------------------

    def _matches(self, query_words: Iterable[str]) -> dict[str, dict[str, float]]:
        """Each query word that means something here -> the index words it matches, with quality."""
        out: dict[str, dict[str, float]] = {}
        for word in list(dict.fromkeys(query_words))[:MAX_QUERY_WORDS]:
            found = {}
            for candidate in self._by_initial.get(word[0], ()):
                if abs(len(candidate) - len(word)) > max(3, len(word) // 2):
                    continue
                quality = word_match(word, candidate)
                if quality:
                    found[candidate] = quality
            if found:
                out[word] = found
        return out

    def _score(
        self, doc: _Doc, matches: Mapping[str, Mapping[str, float]], phrase: str
    ) -> tuple[float, list[str]]:
        if not matches:
            return 0.0, []
        matched: list[str] = []
        got = total = 0.0
        covered: set[str] = set()
        for word, found in matches.items():
            # A word weighs what its best match in the whole index weighs.
            weight = max(q * self._idf[w] for w, q in found.items())
            total += weight
            here = [w for w in found if w in doc.vocabulary]
            if here:
                got += weight * max(found[w] for w in here)
                matched.append(word)
                covered.update(here)
        score = got / total
        if len(doc.words) <= 14 and doc.words and len(matched) >= min(2, len(doc.vocabulary)):
            # A short official text quoted inside a long paste (a JSON body, a log line).
            score = max(score, 0.95 * len(covered) / len(doc.vocabulary))
        if phrase and len(phrase.split()) >= 2 and phrase in doc.folded:
            score += 0.3
        return min(score, 1.5), matched

    def explain(self, text: str, *, limit: int = 8) -> Explanation:
        # Bounded: a look-up runs on the server's event loop, and a ticket is not a book.
        query = text.strip()[:MAX_QUERY_CHARS]
        if not query:
            return Explanation(query)
        folded_words = words(query)
        phrase = " ".join(w for w in folded_words if not w.isdigit())
        known = self._matches(_content_words(query))
        numbers = [w for w in folded_words if w.isdigit()]

        code_scores: dict[int, tuple[float, list[str]]] = {}
        for number in dict.fromkeys(numbers):
            for kind in KINDS:
                index = self._numbers.get((kind, number))
                if index is not None:
                    # An exact code is the strongest signal a ticket can carry.
                    code_scores[index] = (2.0 if kind == "exception" else 1.6, [number])
        lowered = fold(query)
        for index, entry in enumerate(self.entries):
            if entry.kind == "forbidden" and entry.code in lowered:
                code_scores[index] = (2.0, [entry.code])
                continue
            if entry.kind == "http" and any(
                _phrase_in(alias, folded_words) for alias in entry.extra
            ):
                best = code_scores.get(index, (0.0, []))
                code_scores[index] = (max(best[0], 1.5), [*best[1], "alias"])
                continue
            score, why = self._score(self._code_docs[index], known, phrase)
            if score >= self.min_code_score and score > code_scores.get(index, (0.0, []))[0]:
                code_scores[index] = (score, why)
        codes = sorted(
            (CodeHit(self.entries[i], s, tuple(w)) for i, (s, w) in code_scores.items()),
            key=lambda h: (-h.score, KINDS.index(h.entry.kind), h.entry.code),
        )[:limit]

        # Codes found point at the scenarios that produce them (tags like "403", "450").
        quoted = {h.entry.code for h in codes if h.score >= 1.0}
        quoted |= {
            str(h.entry.http_status)
            for h in codes
            if h.entry.kind in ("http", "forbidden") and h.score >= 1.5 and h.entry.http_status
        }
        scenario_hits = []
        for scenario, doc in zip(self.scenarios, self._scenario_docs, strict=True):
            score, why = self._score(doc, known, phrase)
            tagged = quoted & {str(t) for t in scenario.tags}
            mentioned = {c for c in quoted if c.isdigit() and c in doc.folded.split()}
            if tagged or mentioned:
                score += 0.6 if tagged else 0.35
                why = [*why, *sorted(tagged | mentioned)]
            if score >= self.min_scenario_score:
                scenario_hits.append(ScenarioHit(scenario, score, tuple(why)))
        scenario_hits.sort(key=lambda h: (-h.score, h.name))
        return Explanation(query, tuple(codes), tuple(scenario_hits[:limit]))


def _phrase_in(alias: str, query_words: Sequence[str]) -> bool:
    """All words of an alias, in order and adjacent, among the query's words."""
    parts = words(alias)
    n = len(parts)
    for start in range(len(query_words) - n + 1):
        if all(
            word_match(p, q) >= 0.8
            for p, q in zip(parts, query_words[start : start + n], strict=True)
        ):
            return True
    return False


# -- the catalogue -------------------------------------------------------------------------------


@cache
def catalogue() -> tuple[Scenario, ...]:
    """Every scenario shipped in the catalogue (read once per process)."""
    out = []
    for name in catalogue_names():
        try:
            out.append(resolve(name))
        except ScenarioError:  # the catalogue tests flag a broken file; the look-up goes on
            continue
    return tuple(out)


@cache
def _default_explainer() -> Explainer:
    return Explainer(catalogue())


def explain(
    text: str, *, scenarios: Sequence[Scenario] | None = None, limit: int = 8
) -> Explanation:
    """Look ``text`` up in the code tables and the scenarios (default: the catalogue)."""
    explainer = _default_explainer() if scenarios is None else Explainer(scenarios)
    return explainer.explain(text, limit=limit)


def format_text(result: Explanation, lang: str = "pl") -> str:
    """A plain-text report (the CLI's output)."""
    lines: list[str] = []
    english = lang == "en"
    if not result:
        return (
            "No code or scenario matches. Paste the exception code, the HTTP status or the message."
            if english
            else "Brak dopasowań. Wklej kod wyjątku, status HTTP albo treść komunikatu."
        )
    if result.codes:
        lines.append("Codes:" if english else "Kody:")
        for hit in result.codes:
            e = hit.entry
            label = KIND_LABELS[e.kind][lang if lang in ("pl", "en") else "pl"]
            lines.append(f"  {e.code}  [{label}]")
            lines.append(f"      PL: {e.polish}")
            if e.english:
                lines.append(f"      EN: {e.english}")
    if result.scenarios:
        lines.append("Scenarios:" if english else "Scenariusze:")
        for shit in result.scenarios:
            scenario = shit.scenario
            lines.append(f"  {scenario.name}  ({', '.join(scenario.tags)})")
            block = scenario.explanation(lang) or {}
            for key, title in (
                ("symptom", "Symptom" if english else "Objaw"),
                ("cause", "Cause" if english else "Przyczyna"),
                ("fix", "Fix" if english else "Rozwiązanie"),
            ):
                if block.get(key):
                    lines.append(f"      {title}: {' '.join(str(block[key]).split())}")
    return "\n".join(lines)
