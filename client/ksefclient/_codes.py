"""The client's own table of KSeF codes: official Polish text, English meaning, likely fix.

KSeF answers in Polish. The client keeps its own table (it is a standalone
production client and imports nothing from mockksef) so that every error it
raises can say, in English, what went wrong and what usually fixes it. The
Polish texts here are only a fallback: the text the server sent always wins.

Four tables: exception codes of HTTP 400 answers, 403 reason codes, and the
status codes of asynchronous operations (authentication, invoices in a session,
sessions, exports) which reuse numbers with different meanings.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "AUTH_STATUSES",
    "CodeInfo",
    "EXCEPTION_CODES",
    "EXPORT_STATUSES",
    "FORBIDDEN_REASONS",
    "HTTP_STATUSES",
    "INVOICE_STATUSES",
    "SESSION_STATUSES",
    "unknown",
]


class CodeInfo(NamedTuple):
    polish: str
    english: str
    fix: str


_RETRY_LATER = "Retry later; the client retries transient failures itself."

EXCEPTION_CODES: dict[int, CodeInfo] = {
    9101: CodeInfo(
        "Nieprawidłowy dokument.",
        "The signed XML is not a usable AuthTokenRequest.",
        "Sign the document built by ksefclient.xades.auth_token_request, unchanged.",
    ),
    9102: CodeInfo(
        "Brak podpisu.",
        "The authentication document carries no XAdES signature.",
        "Sign the AuthTokenRequest (enveloped XAdES) before sending it.",
    ),
    9103: CodeInfo(
        "Przekroczona liczba dozwolonych podpisów.",
        "The authentication document carries more than one signature.",
        "Sign the document exactly once.",
    ),
    9105: CodeInfo(
        "Nieprawidłowy podpis.",
        "The XAdES signature does not verify or uses a forbidden algorithm.",
        "Do not modify the XML after signing; use RSA >= 2048 or EC P-256 keys with SHA-256.",
    ),
    21001: CodeInfo(
        "Nieczytelna treść.",
        "KSeF could not read the request body.",
        "Send valid JSON/XML with the matching Content-Type.",
    ),
    21111: CodeInfo(
        "Nieprawidłowe wyzwanie autoryzacyjne.",
        "The authentication challenge is unknown, expired (10 min) or already used.",
        "Request a fresh challenge for every authentication attempt.",
    ),
    21115: CodeInfo(
        "Nieprawidłowy certyfikat.",
        "The signing certificate is unreadable or carries no NIP/PESEL identifier.",
        "Use a qualified certificate, a KSeF certificate, or on TEST a certificate with "
        "serialNumber TINPL-<nip> / organizationIdentifier VATPL-<nip>.",
    ),
    21117: CodeInfo(
        "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
        "The context identifier does not fit its type (e.g. a malformed NIP).",
        "Check the configured NIP / internal id.",
    ),
    21155: CodeInfo(
        "Przekroczono dozwoloną liczbę faktur w sesji.",
        "The session reached its invoice limit (10 000 by default).",
        "Open a new session for the remaining invoices.",
    ),
    21157: CodeInfo(
        "Nieprawidłowy rozmiar części pakietu.",
        "A batch part is too large (100 MB before encryption) or its declared size is wrong.",
        "Split the archive into smaller parts; declare the sizes of the encrypted parts.",
    ),
    21161: CodeInfo(
        "Przekroczono dozwoloną liczbę części pakietów.",
        "The batch declares more than 50 parts.",
        "Use larger parts (up to 100 MB) or several batch sessions.",
    ),
    21164: CodeInfo(
        "Faktura o podanym identyfikatorze nie istnieje.",
        "No invoice with this KSeF number is visible in the current context.",
        "Check the number and that the context is a party to the invoice.",
    ),
    21165: CodeInfo(
        "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
        "The invoice is accepted but not yet permanently stored.",
        _RETRY_LATER,
    ),
    21166: CodeInfo(
        "Korekta techniczna niedostępna.",
        "The original invoice already has an accepted technical correction.",
        "Do not send another technical correction for it.",
    ),
    21167: CodeInfo(
        "Status faktury nie pozwala na korektę techniczną.",
        "Technical corrections apply only to rejected invoices; this one was accepted.",
        "Send a regular corrective invoice instead.",
    ),
    21173: CodeInfo(
        "Brak sesji o wskazanym numerze referencyjnym.",
        "No session with this reference number in the current context.",
        "Check the reference number and the context; open a new session if it expired.",
    ),
    21175: CodeInfo(
        "Wynik zapytania o podanym identyfikatorze nie istnieje.",
        "No export with this reference number.",
        "Check the reference number; start a new export.",
    ),
    21178: CodeInfo(
        "Nie znaleziono UPO dla podanych kryteriów.",
        "No UPO for these criteria (yet).",
        "UPOs exist only for accepted invoices and closed sessions; wait and retry.",
    ),
    21180: CodeInfo(
        "Status sesji nie pozwala na wykonanie operacji.",
        "The session is not open (closed, expired or failed).",
        "Open a new session.",
    ),
    21181: CodeInfo(
        "Nieprawidłowe żądanie eksportu faktur.",
        "The export's subject type does not fit the authenticated context type.",
        "Choose a subject type valid for the context.",
    ),
    21182: CodeInfo(
        "Osiągnięto limit trwających eksportów.",
        "Ten exports are already running for this subject and context.",
        "Wait for running exports to finish.",
    ),
    21183: CodeInfo(
        "Zakres filtrowania wykracza poza dostępny zakres danych.",
        "dateRange.from is later than the permanent-storage high water mark.",
        "Start from a date at or before the last HWM the API reported.",
    ),
    21184: CodeInfo(
        "Sesja tymczasowo niedostępna.",
        "The interactive session is paused for maintenance.",
        "Retry later or open a new session for the remaining invoices.",
    ),
    21205: CodeInfo(
        "Pakiet nie może być pusty.",
        "A declared batch part was not uploaded before closing.",
        "Upload every declared part, then close the session.",
    ),
    21208: CodeInfo(
        "Czas oczekiwania na requesty upload lub finish został przekroczony.",
        "The batch upload window has passed; the session is cancelled.",
        "Open a new batch session and upload faster.",
    ),
    21217: CodeInfo(
        "Nieprawidłowe kodowanie znaków.",
        "The document is not valid UTF-8.",
        "Encode the XML as UTF-8.",
    ),
    21301: CodeInfo(
        "Brak autoryzacji.",
        "The authentication does not allow this: tokens already redeemed, the session "
        "was revoked, or the KSeF token was revoked.",
        "Authenticate again (the client does this itself when it holds credentials).",
    ),
    21304: CodeInfo(
        "Brak uwierzytelnienia.",
        "The authentication operation was not found.",
        "Authenticate again.",
    ),
    21308: CodeInfo(
        "Próba wykorzystania metod autoryzacyjnych osoby zmarłej.",
        "The credentials belong to a deceased person.",
        "Use another person's credentials.",
    ),
    21401: CodeInfo(
        "Dokument nie jest zgodny ze schemą (xsd).",
        "The authentication document does not conform to its XSD.",
        "Build the AuthTokenRequest with ksefclient.xades.auth_token_request.",
    ),
    21402: CodeInfo(
        "Nieprawidłowy rozmiar pliku.",
        "The encrypted invoice size does not match the content sent.",
        "Declare the byte length of the encrypted content.",
    ),
    21403: CodeInfo(
        "Nieprawidłowy skrót pliku.",
        "The encrypted invoice hash does not match the content sent.",
        "Declare Base64(SHA-256) of the encrypted bytes.",
    ),
    21405: CodeInfo(
        "Błąd walidacji danych wejściowych.",
        "The request failed input validation; the details name the field.",
        "Fix the field named in the details.",
    ),
    21406: CodeInfo(
        "Konflikt podpisu i typu uwierzytelnienia.",
        "SubjectIdentifierType does not fit the certificate "
        "(certificateSubject needs a NIP/PESEL in the certificate).",
        "Use subject_identifier_type='certificateFingerprint' for such certificates.",
    ),
    21418: CodeInfo(
        "Przekazany token kontynuacji ma nieprawidłowy format.",
        "The continuation token is malformed.",
        "Pass the continuationToken from the previous page unchanged.",
    ),
    21470: CodeInfo(
        "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
        "The Ministry public key used was withdrawn or is unknown (key rotation).",
        "Fetch /security/public-key-certificates again; the client does this itself once.",
    ),
    25001: CodeInfo(
        "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
        "CSR data are not available for this authentication method.",
        "Authenticate with a qualified signature or seal to enroll certificates.",
    ),
    25002: CodeInfo(
        "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu "
        "uwierzytelnienia.",
        "Certificate enrollment is not possible for this authentication method.",
        "Authenticate with a qualified signature or seal.",
    ),
    25003: CodeInfo(
        "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
        "The CSR does not match the authenticating credential.",
        "Build the CSR from /certificates/enrollments/data.",
    ),
    25004: CodeInfo(
        "Niepoprawny format CSR lub niepoprawny podpis CSR.",
        "The CSR is malformed or its signature is invalid.",
        "Send a DER PKCS#10 CSR signed with the key it certifies.",
    ),
    25005: CodeInfo(
        "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
        "No certificate enrollment with this reference number.",
        "Check the reference number.",
    ),
    25006: CodeInfo(
        "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
        "The certificate enrollment limit is reached.",
        "Wait or ask for a higher limit.",
    ),
    25007: CodeInfo(
        "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
        "The limit of active certificates is reached.",
        "Revoke unused certificates.",
    ),
    25008: CodeInfo(
        "Certyfikat o podanym numerze seryjnym nie istnieje.",
        "No certificate with this serial number.",
        "Check the serial number.",
    ),
    25009: CodeInfo(
        "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany "
        "lub nieważny.",
        "The certificate is already revoked, blocked or invalid.",
        "Nothing to do.",
    ),
    25010: CodeInfo(
        "Nieprawidłowy typ lub długość klucza.",
        "Only RSA-2048 and EC P-256 keys can be certified.",
        "Generate an RSA-2048 or EC P-256 key.",
    ),
    25011: CodeInfo(
        "Nieprawidłowy algorytm podpisu CSR.",
        "The CSR signature algorithm is not accepted.",
        "Sign the CSR with SHA-256.",
    ),
    26001: CodeInfo(
        "Nie można nadać tokenowi uprawnień których nie posiadasz.",
        "A KSeF token cannot carry permissions its author lacks.",
        "Request only permissions you hold in this context.",
    ),
    26002: CodeInfo(
        "Nie można wygenerować tokena dla obecnego typu kontekstu.",
        "KSeF tokens can only be generated in Nip or InternalId contexts.",
        "Authenticate in a Nip or InternalId context.",
    ),
    30001: CodeInfo(
        "Podmiot lub uprawnienie już istnieje.",
        "The test entity or permission already exists.",
        "Nothing to do, or remove it first.",
    ),
    71001: CodeInfo(
        "Faktura o podanym identyfikatorze nie istnieje.",
        "An invoice of the collective identifier is unknown or not visible.",
        "Use KSeF numbers of invoices the context is a party to.",
    ),
    71002: CodeInfo(
        "Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych.",
        "The invoice is already in the maximum number of collective identifiers.",
        "Leave this invoice out.",
    ),
    71004: CodeInfo(
        "Faktury mają różnych sprzedawców.",
        "All invoices of a collective identifier need the same seller.",
        "Group invoices by seller.",
    ),
    71005: CodeInfo(
        "Powtórzony numer KSeF w żądaniu.",
        "The same KSeF number appears twice in the request.",
        "Remove the repetition.",
    ),
}

FORBIDDEN_REASONS: dict[str, CodeInfo] = {
    "missing-permissions": CodeInfo(
        "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
        "The credential lacks every permission the operation accepts.",
        "Grant one of the required permissions (see security.requiredAnyOfPermissions), "
        "then authenticate again.",
    ),
    "ip-not-allowed": CodeInfo(
        "Żądanie pochodzi z adresu IP innego niż wskazany podczas uwierzytelnienia.",
        "The request comes from an IP address outside the authorisation policy.",
        "Authenticate again from an allowed address, or widen the IP policy.",
    ),
    "insufficient-resource-access": CodeInfo(
        "Brak dostępu do wskazanego zasobu.",
        "The resource belongs to another subject or context, or the token type is wrong.",
        "Use a credential of the owning context.",
    ),
    "auth-method-not-allowed": CodeInfo(
        "Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
        "This operation is not available for the authentication method used.",
        "Authenticate with a qualified signature or seal.",
    ),
    "security-service-blocked": CodeInfo(
        "Żądanie zostało zablokowane przez mechanizmy bezpieczeństwa.",
        "KSeF security mechanisms blocked the request.",
        "Contact the Ministry of Finance (incidentId in the answer).",
    ),
    "context-type-not-allowed": CodeInfo(
        "Operacja nie jest dostępna dla uwierzytelnionego typu kontekstu.",
        "This operation is not available for the authenticated context type.",
        "Authenticate in another context type.",
    ),
}

AUTH_STATUSES: dict[int, CodeInfo] = {
    100: CodeInfo("Uwierzytelnianie w toku", "Authentication in progress.", "Keep polling."),
    200: CodeInfo("Uwierzytelnianie zakończone sukcesem", "Authenticated.", ""),
    415: CodeInfo(
        "Uwierzytelnianie zakończone niepowodzeniem",
        "The subject holds no permission in this context.",
        "Authenticate into a context where you hold permissions, or have one granted.",
    ),
    425: CodeInfo(
        "Uwierzytelnienie unieważnione",
        "The authentication session was revoked.",
        "Authenticate again.",
    ),
    450: CodeInfo(
        "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
        "The KSeF token is invalid, inactive, revoked, or not valid for this context.",
        "Check the token (KSeF 1.0 tokens do not work on 2.0) and its context; "
        "generate a new token.",
    ),
    460: CodeInfo(
        "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
        "The certificate is expired, revoked, untrusted or malformed.",
        "Use a valid certificate; self-signed ones work only on TEST.",
    ),
    470: CodeInfo(
        "Uwierzytelnianie zakończone niepowodzeniem",
        "The credentials belong to a deceased person.",
        "Use another person's credentials.",
    ),
    480: CodeInfo(
        "Uwierzytelnienie zablokowane",
        "Authentication in this context is blocked (security incident).",
        "Contact the Ministry of Finance.",
    ),
    500: CodeInfo("Nieznany błąd", "Unknown server error.", _RETRY_LATER),
    550: CodeInfo(
        "Operacja została anulowana przez system", "Cancelled by the system.", _RETRY_LATER
    ),
}

INVOICE_STATUSES: dict[int, CodeInfo] = {
    100: CodeInfo("Faktura przyjęta do dalszego przetwarzania", "Accepted, queued.", ""),
    150: CodeInfo("Trwa przetwarzanie", "Being processed.", ""),
    200: CodeInfo("Sukces", "Accepted; KSeF number assigned.", ""),
    405: CodeInfo(
        "Przetwarzanie anulowane z powodu błędu sesji",
        "Processing aborted because the session failed.",
        "Check the session status; send the invoice in a new session.",
    ),
    410: CodeInfo(
        "Nieprawidłowy zakres uprawnień",
        "The context may not issue invoices for this seller (Podmiot1).",
        "Send from the seller's context or get the right delegation.",
    ),
    415: CodeInfo(
        "Brak możliwości wysyłania faktury z załącznikiem",
        "Invoices with attachments cannot be sent in an online session.",
        "Send it in a batch session (with attachment consent).",
    ),
    430: CodeInfo(
        "Błąd weryfikacji pliku faktury",
        "The decrypted invoice does not match the declared size/hash, or is too large.",
        "Declare size and hash of the plain XML bytes.",
    ),
    435: CodeInfo(
        "Błąd odszyfrowania pliku",
        "The invoice could not be decrypted with the session key.",
        "Encrypt with the session's AES key and IV (AES-256-CBC, PKCS#7).",
    ),
    440: CodeInfo(
        "Duplikat faktury",
        "An invoice with the same seller, type and number was already accepted.",
        "Nothing to send: the original KSeF number is in the status extensions.",
    ),
    450: CodeInfo(
        "Błąd weryfikacji semantyki dokumentu faktury",
        "The invoice XML is malformed or fails the schema or business rules.",
        "Fix the XML (details name the problem) and send it again.",
    ),
    500: CodeInfo("Nieznany błąd", "Unknown server error.", _RETRY_LATER),
    550: CodeInfo(
        "Operacja została anulowana przez system", "Cancelled by the system.", _RETRY_LATER
    ),
}

SESSION_STATUSES: dict[int, CodeInfo] = {
    100: CodeInfo("Sesja otwarta", "Open (batch: started).", ""),
    150: CodeInfo("Trwa przetwarzanie", "Being processed.", ""),
    170: CodeInfo("Sesja interaktywna zamknięta", "Closed; processing is finishing.", ""),
    200: CodeInfo("Sesja przetworzona pomyślnie", "Processed.", ""),
    405: CodeInfo(
        "Błąd weryfikacji poprawności dostarczonych elementów paczki",
        "An uploaded batch part does not match its declared size/hash.",
        "Upload exactly the encrypted parts you declared.",
    ),
    415: CodeInfo(
        "Błąd odszyfrowania dostarczonego klucza",
        "KSeF could not decrypt the session key.",
        "Wrap the AES key with the current SymmetricKeyEncryption public key (RSA-OAEP SHA-256).",
    ),
    420: CodeInfo(
        "Przekroczony limit faktur w sesji",
        "The batch holds more invoices than allowed.",
        "Split the batch.",
    ),
    430: CodeInfo(
        "Błąd dekompresji pierwotnego archiwum",
        "The batch archive could not be decompressed, or its hash/size is wrong.",
        "Declare size and hash of the unencrypted archive; use the session IV for every part.",
    ),
    435: CodeInfo(
        "Błąd odszyfrowania zaszyfrowanych części archiwum",
        "A batch part could not be decrypted.",
        "Encrypt each part separately with the session key and IV.",
    ),
    440: CodeInfo(
        "Sesja anulowana",
        "Cancelled: no invoices were sent, or the upload time passed.",
        "Open a new session.",
    ),
    445: CodeInfo(
        "Błąd weryfikacji, brak poprawnych faktur",
        "Every invoice of the session was rejected.",
        "Check the invoice statuses for the reasons.",
    ),
    500: CodeInfo("Nieznany błąd", "Unknown server error.", _RETRY_LATER),
}

EXPORT_STATUSES: dict[int, CodeInfo] = {
    100: CodeInfo("Eksport faktur w toku", "Export in progress.", ""),
    200: CodeInfo("Eksport faktur zakończony sukcesem", "Export ready.", ""),
    210: CodeInfo(
        "Eksport faktur wygasł i nie jest już dostępny do pobrania",
        "The export package expired.",
        "Start a new export.",
    ),
    415: CodeInfo(
        "Błąd odszyfrowania dostarczonego klucza",
        "KSeF could not decrypt the export key.",
        "Wrap the AES key with the current SymmetricKeyEncryption public key.",
    ),
    420: CodeInfo(
        "Zakres filtrowania wykracza poza dostępny zakres danych",
        "dateRange.from is later than the permanent-storage HWM.",
        "Start from the last HWM the API reported.",
    ),
    500: CodeInfo("Nieznany błąd", "Unknown server error.", _RETRY_LATER),
    550: CodeInfo(
        "Operacja została anulowana przez system", "Cancelled by the system.", _RETRY_LATER
    ),
}

HTTP_STATUSES: dict[int, CodeInfo] = {
    401: CodeInfo(
        "Wymagane jest uwierzytelnienie.",
        "The bearer token is missing, invalid or expired.",
        "Authenticate again (the client does this itself when it holds credentials).",
    ),
    410: CodeInfo(
        "Operacja wygasła i nie jest już dostępna.",
        "The operation's status is past its retention period.",
        "Start the operation again.",
    ),
    429: CodeInfo(
        "Too Many Requests",
        "A KSeF rate limit was exceeded.",
        "Wait for Retry-After seconds; spread requests over time.",
    ),
}


def unknown(code: int | str) -> CodeInfo:
    return CodeInfo("", f"Code {code} is not in the client's table.", "See the KSeF documentation.")
