"""Logging that never shows credentials.

``--debug`` turns on botocore's request logging, which prints signed headers
(``Authorization: ... Credential=AKIA.../..., Signature=...``) and session
tokens. Every record passes through ``RedactingFilter`` before it is written.
"""

from __future__ import annotations

import logging
import os
import re
import sys

_PATTERNS = [
    (re.compile(r"(Credential=)[^/,\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1[redacted]"),
    # Header values are logged as bytes reprs too: 'X-Amz-Security-Token': b'FwoG...'
    (re.compile(r"((?:X-Amz-Security-Token|x-amz-security-token|aws_session_token|SessionToken)['\"]?\s*[:=]\s*b?['\"]?)[^'\",\s}]+"),
     r"\1[redacted]"),
    (re.compile(r"((?:aws_secret_access_key|SecretAccessKey|secret_key)['\"]?\s*[:=]\s*b?['\"]?)[^'\",\s}]+"),
     r"\1[redacted]"),
    (re.compile(r"(X-Amz-Credential=)[^&\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"(X-Amz-Signature=)[0-9a-fA-F]+"), r"\1[redacted]"),
    # a user name and password in a URL (http://user:password@host/)
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s'\"]+@"), r"\1[redacted]@"),
]

_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    secrets = [os.environ.get(name, "") for name in _SECRET_ENV] + list(extra_secrets)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def has_userinfo(url: str) -> bool:
    """True when ``url`` carries a user name or password (``http://user:password@host``)."""
    return redact_url(url) != url


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``[redacted]``."""
    return _PATTERNS[-1][0].sub(_PATTERNS[-1][1], url)


_filters: list["RedactingFilter"] = []


def redacting() -> bool:
    """True once debug logging with redaction has been configured."""
    return bool(_filters)


def add_secrets(*values: str | None) -> None:
    """Redact these exact values too (e.g. credentials read from a profile file)."""
    extra = tuple(v for v in values if v)
    for f in _filters:
        f.extra_secrets = tuple(dict.fromkeys(f.extra_secrets + extra))


class RedactingFilter(logging.Filter):
    def __init__(self, extra_secrets: tuple[str, ...] = ()):
        super().__init__()
        self.extra_secrets = extra_secrets
        _filters.append(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, self.extra_secrets)
        record.args = None
        return True


def configure_debug_logging(stream=None, extra_secrets: tuple[str, ...] = ()) -> logging.Handler:
    """Debug logs of dgtui and botocore to stderr, with credentials redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(extra_secrets))
    for name in ("dgtui", "botocore", "boto3", "s3transfer", "urllib3"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    return handler
