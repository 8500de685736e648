"""Keep secrets out of log lines, reports and debug endpoints.

Three entry points, each safe to call on anything:

    redact_url("redis://:hunter2@redis:6379/0")   # -> "redis://:***@redis:6379/0"
    redact_text('login failed: password="hunter 2", token ghp_...')
    redact_mapping({"BROKER_PASS": "x", "nested": {"api_key": "y"}})

What ``redact_text`` masks, in this order:

1. PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----`` up to its END line, or to the
   end of the base64 run when the block was cut short).
2. Well-known token shapes wherever they appear: GitHub (``ghp_``, ``gho_``, ``ghu_``,
   ``ghs_``, ``ghr_``, ``github_pat_``), Stripe (``sk_live_``, ``sk_test_``, ``rk_live_``,
   ``whsec_``), Slack (``xoxb-``, ``xoxp-``, ... ``xapp-``), Google API keys (``AIza``), AWS
   access key ids, OpenAI/Anthropic/Hugging Face keys, GitLab ``glpat-``, JSON Web Tokens.
3. URLs: the password of the userinfo (and a user-only userinfo unless it is a plain name such
   as ``git`` or ``default``), path segments that look like tokens (webhook URLs carry their
   secret in the path), and query or fragment values whose name is secret-like or whose
   value looks like a token.
4. ``Authorization``/``Bearer``/``Basic`` credentials.
5. ``key=value``, ``key: value``, ``"key": "value"``, ``key="quoted value with spaces"``
   where the key *ends with* a secret-like word: password, passwd, passphrase, pwd, secret,
   token, key, auth, credential(s), dsn, cookie (``REDIS_PASSWORD``, ``apiKey``,
   ``SIGNING_KEY``, ``x-api-key``). Names that are not secrets although they end in ``key``
   (``routing_key``, ``cache_key``, ...) and counts such as ``max_tokens`` are left alone.
6. Prose: ``password hunter2``, ``the secret is 'open sesame'``. After password, passwd,
   passphrase, pwd, secret, token, credential(s), dsn the next word is masked unless it is an
   ordinary word of such sentences (``password expired``, ``token is invalid``); after the
   vaguer ``key`` and ``auth`` only a word that looks like a credential (letters and digits,
   or mixed case, 8+ characters) is masked, so ``auth failed`` and ``key error`` stay.

Never masked unless one of the rules above applies: task ids (UUIDs), hashes, trace and span
ids, Celery task names, ordinary prose (``tests/instrumentation/test_redaction.py`` holds the
corpus that proves it).

``redact_mapping`` masks values by key name (recursively) and scrubs every string value with
``redact_text``. ``Redactor`` is the structlog processor that applies both to a whole event
dict, tracebacks and exception messages included, because exceptions raised by Redis clients
routinely quote the URL they failed to reach.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

MASK = "***"

# --- key names ---------------------------------------------------------------------------

#: Key names (case-insensitive) whose values are secrets: the word anywhere in the name...
SECRET_KEY_PATTERN = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|authorization|auth[_-]?header|credential|session[_-]?key|cookie"
    r"|signature|dsn|jwt)"
    # ... or a secret-like last component: SIGNING_KEY, REDIS_AUTH, GITHUB_PAT, PW.
    r"|(^|[_.\-])(key|auth|pat|pw)$",
    re.IGNORECASE,
)

#: Names ending in ``key`` that hold no secret (Celery, kombu, databases, caches).
NOT_SECRET_KEYS = frozenset({
    "routing_key", "routingkey", "binding_key", "cache_key", "cachekey", "sort_key",
    "partition_key", "primary_key", "foreign_key", "idempotency_key", "dedup_key",
    "lookup_key", "group_key", "hash_key", "range_key", "redis_key", "task_key",
    "public_key", "publickey", "key_prefix", "keyprefix", "global_keyprefix", "monkey",
    "hotkey", "turkey",
})


def is_secret_key(key: str) -> bool:
    """True when a mapping key's name says its value is a secret (``REDIS_PASS``, ``api_key``,
    ``SIGNING_KEY``, ``GITHUB_PAT``)."""
    if key.lower() in NOT_SECRET_KEYS:
        return False
    return bool(SECRET_KEY_PATTERN.search(key))


# --- 1. PEM private keys -------------------------------------------------------------------

_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
    r"(?:.{0,20000}?-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
    # cut short (a capped traceback, a truncated message): the base64 run, escaped or real
    # newlines included, is the key.
    r"|[A-Za-z0-9+/=\s\\:,.\-]*)",
    re.DOTALL,
)
_PEM_MASK = "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----"

# --- 2. token shapes -------------------------------------------------------------------------

_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"gh[pousr]_[A-Za-z0-9]{16,}"                       # GitHub classic/OAuth/app tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"                    # GitHub fine-grained
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"         # Stripe secret / restricted keys
    r"|whsec_[A-Za-z0-9+/=]{16,}"                       # Stripe webhook signing secret
    r"|xox[a-z]-[A-Za-z0-9\-]{8,}|xapp-[A-Za-z0-9\-]{8,}"  # Slack
    r"|AIza[0-9A-Za-z_\-]{30,}"                         # Google API key
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"                       # AWS access key id
    r"|sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_\-]{20,}"  # OpenAI / Anthropic
    r"|hf_[A-Za-z0-9]{30,}"                             # Hugging Face
    r"|glpat-[A-Za-z0-9_\-]{20,}"                       # GitLab
    r"|npm_[A-Za-z0-9]{30,}"                            # npm
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"  # JSON Web Token
    r")",
)

# --- 3. URLs -----------------------------------------------------------------------------------

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>`\\]+")
_NAME_LIKE_USER = re.compile(r"[a-z][a-z._\-]{0,15}")
_SECRET_PARAM = re.compile(
    r"(pass|pwd|secret|token|key|auth|credential|sig|signature|session|jwt|code|dsn|ticket)",
    re.IGNORECASE)


def _looks_like_token(value: str, min_len: int = 16) -> bool:
    """A random-looking run: long, and mixing at least two of lower, upper and digits.
    Slugs (``getting-started``) and words stay; hex hashes and UUIDs in URL paths do not."""
    if len(value) < min_len:
        return False
    classes = (any(c.islower() for c in value) + any(c.isupper() for c in value)
               + any(c.isdigit() for c in value))
    return classes >= 2


def _redact_query(query: str) -> str:
    parts = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and value != MASK and (
                _SECRET_PARAM.search(name) or _looks_like_token(value, 12)):
            pair = f"{name}={MASK}"
        elif not eq and _looks_like_token(name):
            pair = MASK
        parts.append(pair)
    return "&".join(parts)


def _redact_one_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{MASK}@{host}"
        elif not _NAME_LIKE_USER.fullmatch(user):
            authority = f"{MASK}@{host}"
    if path:
        path = "/".join(MASK if _looks_like_token(seg) else seg for seg in path.split("/"))
    if query:
        query = _redact_query(query)
    if fragment:
        fragment = _redact_query(fragment)
    return f"{scheme}://{authority}{slash}{path}{qmark}{query}{hash_}{fragment}"


def redact_url(url: str) -> str:
    """Mask the secrets of a URL (password, token-like path segments and query values),
    keeping scheme, user, host, port and the readable parts of the path."""
    return _URL.sub(lambda m: _redact_one_url(m.group(0)), url)


# --- 4./5. credentials after a secret-like name ---------------------------------------------

_SECRET_WORDS = (r"(?:pass(?:word|wd|phrase)?s?|pwd|secrets?|token|key|auth|credentials?|dsn"
                 r"|cookie|authorization)")
_KV = re.compile(
    # Only the word is matched; the rest of the name (SIGNING_ in SIGNING_KEY) is read back
    # from the text in _kv_sub: a lazy name prefix in the pattern made the search quadratic
    # in the length of every identifier of the line.
    # (?=[...]) rejects most positions on their first character, before the alternation.
    r"(?=[pstkacdPSTKACD])(?P<key>(?P<name>" + _SECRET_WORDS + r")(?![A-Za-z0-9])"
    # the key's closing quote, however many times it was escaped (a repr inside JSON)
    r"\\*[\"']?)"
    r"(?P<sep>\s*(?:=>|=|:)\s*)"
    r"(?P<val>"
    r"[bru]?(?P<q>\\*[\"'])(?:(?!(?P=q)).){0,2000}(?P=q)"          # quoted, spaces allowed
    r"|(?:(?:Bearer|Basic|Token|Digest|Negotiate|Bot)\s+)?[^\s\"',;&)}\]]+"  # one word
    r")",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)

# --- 6. prose -----------------------------------------------------------------------------

_PROSE = re.compile(
    r"(?=[pstkacdPSTKACD])(?<![A-Za-z0-9])"
    r"(?P<word>pass(?:word|wd|phrase)|pwd|secret|token|credentials?|dsn"
    r"|key|auth)(?![A-Za-z0-9])"
    r"(?P<gap>\s+(?:(?:is|was|of|are|to|being|now|=|:)\s+)?)"
    r"(?P<val>[bru]?(?P<q>\\*[\"'])(?:(?!(?P=q)).){1,2000}(?P=q)|[^\s\"'`\\][^\s\"'`]*)",
    re.IGNORECASE,
)
_STRONG_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "token",
                           "credential", "credentials", "dsn"})
# Words that follow "password", "token", ... in ordinary sentences; never masked.
_STOPWORDS_TEXT = """
a an the this that these those it its is was are were be been being has have had do does did
not no none null nil empty blank missing required invalid expired expires expiry incorrect
wrong bad rejected denied refused failed failure fails error errors mismatch mismatched
reset resets changed change changes updated update rotated rotation rotate set unset
provided supplied given received sent found present absent configured too must should
will can cannot could may might would length policy field value validation check checks
hash hashed hashing manager store storage file files for of to in on at by with without
from into via and or but if when then than as per after before during since until until
limit limits usage count counts budget exceeded refresh refreshed renewal renew revoked
authentication authorization auth type types format name names id ids request requests
response header headers cookie cookies login logins user users account accounts please
again here there used use using new old current previous same different only also
***
"""
PROSE_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _prose_sub(m: re.Match[str]) -> str:
    word, val = m["word"], m["val"]
    bare = val.rstrip(".,;:!?)]}>")
    if m["q"]:
        return f"{word}{m['gap']}{MASK}"
    if not bare or bare.lower() in PROSE_STOPWORDS or bare.startswith(MASK):
        return m.group(0)
    if word.lower() not in _STRONG_WORDS and not _looks_like_credential(bare):
        return m.group(0)
    return f"{word}{m['gap']}{MASK}{val[len(bare):]}"


def _looks_like_credential(value: str) -> bool:
    if len(value) < 8:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return (has_digit and has_alpha) or mixed


_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")


def _kv_sub(m: re.Match[str]) -> str:
    text, start = m.string, m.start()
    while start > 0 and text[start - 1] in _NAME_CHARS:
        start -= 1
    low = text[start:m.end("name")].lower()
    if low in NOT_SECRET_KEYS or low.endswith(("_tokens", "-tokens", ".tokens")):
        return m.group(0)
    val = m["val"]
    if m["q"]:
        q = m["q"]
        prefix = val[: val.index(q)]
        return f"{m['key']}{m['sep']}{prefix}{q}{MASK}{q}"
    if val.startswith(MASK):
        return m.group(0)
    return f"{m['key']}{m['sep']}{MASK}"


# --- the fast question: could this text hold a secret at all? -------------------------------


def _has_marker(text: str) -> bool:
    """Whether ``text`` could hold anything the rules above mask. Plain substring tests, much
    faster than a case-insensitive regex alternation: this runs on every field of every line,
    and almost every line has none of them."""
    low = text.lower()
    return ("://" in low or "pass" in low or "secret" in low or "token" in low
            or "key" in low or "auth" in low or "bearer" in low or "basic" in low
            or "credential" in low or "pwd" in low or "dsn" in low or "cookie" in low
            or "ghp_" in low or "gho_" in low or "ghu_" in low or "ghs_" in low
            or "ghr_" in low or "github_pat_" in low or "k_live_" in low or "k_test_" in low
            or "whsec_" in low
            or "xox" in low or "xapp-" in low or "aiza" in low or "eyj" in low
            or "akia" in low or "asia" in low or "sk-" in low or "hf_" in low
            or "glpat-" in low or "npm_" in low)


_WORDS = ("password", "passwords", "passwd", "passphrase", "pass", "passes", "pwd", "secret",
          "secrets", "token", "key", "auth", "credential", "credentials", "dsn", "cookie",
          "authorization")
_ALNUM = frozenset(string.ascii_lowercase + string.digits)


def _ends_a_secret_word(low: str) -> bool:
    """Whether a secret-like word of rules 5 and 6 ends somewhere in ``low`` (not followed by a
    letter or digit): "passed", "keyboard" and "tokens" alone do not need those regexes."""
    for word in _WORDS:
        at = low.find(word)
        while at >= 0:
            end = at + len(word)
            if end == len(low) or low[end] not in _ALNUM:
                return True
            at = low.find(word, at + 1)
    return False


def redact_text(text: str) -> str:
    """Mask every secret the module docstring lists in free text (idempotent)."""
    if not text or not isinstance(text, str):
        return text
    if not _has_marker(text):
        return text
    if "-----BEGIN" in text:
        text = _PEM.sub(_PEM_MASK, text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    if "://" in text:
        text = _URL.sub(lambda m: _redact_one_url(m.group(0)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if not _ends_a_secret_word(text.lower()):
        return text
    text = _KV.sub(_kv_sub, text)
    return _PROSE.sub(_prose_sub, text)


def redact_value(key: str, value: Any) -> Any:
    """Redact one value given its key: whole value for secret keys, scrubbed text otherwise."""
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if is_secret_key(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(key, v) for v in value)
    return value


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with secret values masked, recursively."""
    return {k: redact_value(str(k), v) for k, v in data.items()}


_PLAIN = frozenset({bool, int, float})  # values that cannot hold a secret


class Redactor:
    """structlog processor: scrub every string in the event dict before it is rendered.

    Keys listed in ``skip`` (ids, names, timestamps) are left alone to keep the hot path cheap,
    and whether a key name looks secret is decided once per name, not once per line.
    """

    def __init__(self, skip: frozenset[str] | None = None) -> None:
        self.skip = skip or frozenset()
        self._secret_key: dict[str, bool] = {}

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        secret_key = self._secret_key
        # The set difference runs in C and leaves the few fields that may hold a secret
        # (message, exception text, whatever the caller added).
        for key in event_dict.keys() - self.skip:
            value = event_dict[key]
            if value is None or value.__class__ in _PLAIN:
                continue
            is_secret = secret_key.get(key)
            if is_secret is None:
                is_secret = secret_key[key] = is_secret_key(str(key))
                if len(secret_key) > 10_000:  # unbounded key names: stop caching, stay correct
                    secret_key.clear()
            if is_secret:
                event_dict[key] = MASK
            elif value.__class__ is str:
                if _has_marker(value):
                    event_dict[key] = redact_text(value)
            elif isinstance(value, Mapping | list | tuple):
                event_dict[key] = redact_value(key, value)
        return event_dict
