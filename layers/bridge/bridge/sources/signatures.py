"""Inbound authenticity, per source scheme. Every comparison is constant-time; every check fails closed.

* standard-webhooks: the `standardwebhooks` package (https://www.standardwebhooks.com/).
* github: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
* stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "t.body">`, several v1 allowed.
* hmac: a configurable header, algorithm, encoding and prefix, and a declared message: which parts
  (body, timestamp, method, URL, headers) are signed, in which order, joined by which separator.
  Zendesk, HubSpot, Intercom and Shopify are hmac profiles in sources.json, not code.
* twilio: `X-Twilio-Signature` over the URL and the form's fields, or the URL alone with the body's
  SHA-256 in `bodySHA256` (JSON), checked by the TwilioSignatures port (twilio's RequestValidator),
  the same check as the status callbacks' and call messages'.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.domain.errors import ConfigurationError, InvalidTwilioSignature, Unauthenticated
from bridge.domain.events import DEFAULT_SOURCE
from bridge.domain.freshness import rfc3339
from bridge.domain.inbound import FormParams, HttpRequest
from bridge.observability import logger

if TYPE_CHECKING:
    from bridge.ports import TwilioSignatures
    from bridge.sources.profiles import HmacSettings, Profile

DEFAULT_TOLERANCE_SECONDS = 300
# A signed integer has one spelling: int() and float() also take "+1", " 1", "1_0", "01" and other
# scripts' digits, and a signature over one spelling must not verify another.
_INTEGER = re.compile(r"0|[1-9][0-9]{0,15}")


class Verifier(Protocol):
    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        """Returns when the delivery is authentic; raises Unauthenticated otherwise.

        `url` is the URL the sender called (with PUBLIC_BASE_URL), for schemes that sign it."""


# Builds the verifier of a scheme that needs a port (twilio): given by bootstrap.py.
type VerifierFactory = Callable[[Profile, Sequence[str]], Verifier]


def _require_secrets(secrets: Sequence[object]) -> None:
    if not secrets:
        logger.error("no usable webhook secret is configured for this source; rejecting every delivery")
        raise Unauthenticated("The bridge cannot verify signatures right now.")


class StandardWebhookVerifier:
    """Accepts a delivery signed with any one of the configured secrets (key rotation)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._webhooks: list[Webhook] = []
        self._keys: list[bytes] = []
        for position, secret in enumerate(secrets):
            try:
                self._webhooks.append(Webhook(secret))
                self._keys.append(base64.b64decode(secret.removeprefix("whsec_")))
            except Exception:  # noqa: BLE001 - the library raises bare Exceptions for bad secrets
                # Never log the secret itself; its position is enough to find it.
                logger.error("unusable webhook secret skipped", position=position)

    @property
    def usable(self) -> bool:
        return bool(self._webhooks)

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        _require_secrets(self._webhooks)
        wanted = {name: headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        if not all(wanted.values()):
            raise Unauthenticated("The webhook-id, webhook-timestamp and webhook-signature headers are required.")
        _ascii(wanted, "webhook-timestamp", "webhook-signature")
        if header_integer(wanted["webhook-timestamp"]) is None:
            # The package would read any spelling float() takes and check the signature over its own.
            raise Unauthenticated("The webhook-timestamp is invalid or outside the 5 minute tolerance.")
        if not _is_utf8(body):
            # The package can only sign text; the signature is over bytes, so check those directly.
            self._verify_bytes(body, wanted)
            return
        failure = "No signature matched."
        for webhook in self._webhooks:
            try:
                webhook.verify(body, wanted, json_parse=False)
            except WebhookVerificationError as error:
                failure = _describe(error)
            except (ValueError, TypeError):
                # The library raises plain ValueErrors for malformed signatures and non-UTF-8 bodies.
                failure = "The webhook-signature header is malformed."
            else:
                return
        raise Unauthenticated(failure)

    def _verify_bytes(self, body: bytes, headers: Mapping[str, str]) -> None:
        timestamp = headers["webhook-timestamp"]
        if not _within(timestamp, DEFAULT_TOLERANCE_SECONDS, time.time):
            raise Unauthenticated("The webhook-timestamp is invalid or outside the 5 minute tolerance.")
        signed = f"{headers['webhook-id']}.{timestamp}.".encode() + body
        provided = []
        for candidate in headers["webhook-signature"].split(" "):
            version, _, value = candidate.partition(",")
            try:
                decoded = base64.b64decode(value, validate=True)
            except (ValueError, binascii.Error):
                continue
            if version == "v1":
                provided.append(decoded)
        for key in self._keys:
            expected = hmac.new(key, signed, hashlib.sha256).digest()
            if any(_matches(expected, candidate) for candidate in provided):
                return
        raise Unauthenticated("No signature matched.")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _describe(error: WebhookVerificationError) -> str:
    message = str(error)
    if "timestamp" in message.lower() or "Invalid Signature Headers" in message:
        return "The webhook-timestamp is invalid or outside the 5 minute tolerance."
    return "No signature matched."


def _digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode("utf-8"), message, getattr(hashlib, algorithm)).digest()


def _matches(expected: bytes, provided: bytes) -> bool:
    return hmac.compare_digest(expected, provided)


def header_integer(text: str) -> int | None:
    """A header's integer in its one spelling, ASCII digits without sign, spaces or leading zeros; else None."""
    return int(text) if _INTEGER.fullmatch(text) else None


def _ascii(headers: Mapping[str, str], *names: str) -> None:
    # Signatures and timestamps are ASCII; anything else can't be what the sender signed.
    for name in names:
        if not headers.get(name.lower(), "").isascii():
            raise Unauthenticated(f"The {name} header must be ASCII.")


def _within(timestamp: str, tolerance: int, clock: Callable[[], float]) -> bool:
    moment = header_integer(timestamp)
    return moment is not None and abs(clock() - moment) <= tolerance


class GitHubVerifier:
    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = [secret for secret in secrets if secret]

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        _require_secrets(self._secrets)
        _ascii(headers, "X-Hub-Signature-256")
        header = headers.get("x-hub-signature-256", "")
        scheme, _, hex_signature = header.partition("=")
        if scheme != "sha256" or not hex_signature:
            raise Unauthenticated("The X-Hub-Signature-256 header is missing or malformed.")
        provided = hex_signature.strip().lower().encode("ascii")
        for secret in self._secrets:
            if _matches(_digest(secret, body).hex().encode(), provided):
                return
        raise Unauthenticated("No signature matched.")


class StripeVerifier:
    def __init__(self, secrets: Sequence[str], tolerance: int, clock: Callable[[], float] = time.time) -> None:
        self._secrets = [secret for secret in secrets if secret]
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        _require_secrets(self._secrets)
        _ascii(headers, "Stripe-Signature")
        timestamp, candidates = "", []
        for part in headers.get("stripe-signature", "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "t":
                timestamp = value
            elif name == "v1" and value:
                candidates.append(value.strip().lower().encode("ascii"))
        if not timestamp or not candidates:
            raise Unauthenticated("The Stripe-Signature header is missing or malformed.")
        if not _within(timestamp, self._tolerance, self._clock):
            raise Unauthenticated(f"The Stripe-Signature timestamp is outside the {self._tolerance} s tolerance.")
        signed = timestamp.encode("ascii") + b"." + body
        for secret in self._secrets:
            expected = _digest(secret, signed).hex().encode()
            if any(_matches(expected, candidate) for candidate in candidates):
                return
        raise Unauthenticated("No signature matched.")


class HmacVerifier:
    def __init__(
        self,
        secrets: Sequence[str],
        settings: HmacSettings,
        tolerance: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = [secret for secret in secrets if secret]
        self._settings = settings
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        _require_secrets(self._secrets)
        settings = self._settings
        _ascii(headers, settings.header, *([settings.timestamp_header] if settings.timestamp_header else []))
        header = headers.get(settings.header.lower(), "").strip()
        if not header.startswith(settings.prefix) or len(header) == len(settings.prefix):
            raise Unauthenticated(f"The {settings.header} header is missing or malformed.")
        provided = self._decode(header[len(settings.prefix) :])
        timestamp = ""
        if settings.timestamp_header:
            # A signed timestamp within the tolerance: a captured delivery can't be replayed later.
            timestamp = headers.get(settings.timestamp_header.lower(), "").strip()
            moment = _moment(timestamp, settings.timestamp_format)
            if moment is None or abs(self._clock() - moment) > self._tolerance:
                raise Unauthenticated(f"The {settings.timestamp_header} header is missing or outside the tolerance.")
        message = signed_message(settings, body, headers, timestamp=timestamp, url=url, method=method)
        for secret in self._secrets:
            if _matches(_digest(secret, message, settings.algorithm), provided):
                return
        raise Unauthenticated("No signature matched.")

    def _decode(self, text: str) -> bytes:
        try:
            if self._settings.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise Unauthenticated(f"The {self._settings.header} header is malformed.") from None


def signed_message(
    settings: HmacSettings, body: bytes, headers: Mapping[str, str], *, timestamp: str, url: str, method: str
) -> bytes:
    """The bytes an hmac sender signs: the declared parts, in order, joined by the separator."""
    parts = []
    for part in settings.parts:
        if part == "body":
            parts.append(body)
        elif part == "timestamp":
            parts.append(timestamp.encode("utf-8"))
        elif part == "method":
            parts.append(method.upper().encode("utf-8"))
        elif part == "url":
            parts.append(_unescape(url, settings.url_unescape).encode("utf-8"))
        else:  # header:<name>, as the schema allows
            parts.append(headers.get(part.removeprefix("header:").lower(), "").encode("utf-8"))
    return settings.joiner.encode("utf-8").join(parts)


def _unescape(url: str, characters: str) -> str:
    for character in characters:
        escape = f"%{ord(character):02X}"
        url = url.replace(escape, character).replace(escape.lower(), character)
    return url


def _moment(timestamp: str, timestamp_format: str) -> float | None:
    """Epoch seconds of a signed timestamp header: unix seconds, unix milliseconds or an RFC 3339 time."""
    if timestamp_format == "iso8601":
        moment = rfc3339(timestamp)
        return moment.timestamp() if moment is not None else None
    value = header_integer(timestamp)
    if value is None:
        return None
    return value / 1000 if timestamp_format == "unix-ms" else float(value)


FORM = "application/x-www-form-urlencoded"


def verified_twilio_request(signatures: TwilioSignatures, request: HttpRequest, url: str) -> FormParams | str:
    """What Twilio signed, once X-Twilio-Signature is checked: the form's fields, or a JSON body's text.

    The one check of every request Twilio makes: status callbacks, call messages, and its webhooks
    as a source. Without bodySHA256 in the URL a JSON body would be signed by nothing at all.
    """
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        raise InvalidTwilioSignature("The X-Twilio-Signature header is required.")
    if not signature.isascii():
        raise InvalidTwilioSignature("The X-Twilio-Signature header must be ASCII.")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidTwilioSignature("The X-Twilio-Signature does not match.") from None
    signed: FormParams | str
    if request.media_type == FORM:
        signed = FormParams(parse_qs(text, keep_blank_values=True))
    elif "bodySHA256" in parse_qs(urlsplit(url).query):
        signed = text
    else:
        raise InvalidTwilioSignature("A JSON request must be signed with bodySHA256 in the URL Twilio calls.")
    signatures.verify(url, signed, signature, request.headers.get("x-twilio-webhooks-signature-settings"))
    return signed


class TwilioVerifier:
    """Twilio's own webhooks as a source (TaskRouter, Studio): the source's secrets are the
    account's auth tokens, checked through the TwilioSignatures port."""

    def __init__(self, signatures: TwilioSignatures) -> None:
        self._signatures = signatures

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        try:
            verified_twilio_request(self._signatures, HttpRequest(body=body, headers=headers, method=method), url)
        except InvalidTwilioSignature as error:
            raise Unauthenticated(error.detail) from None


def verifier_for(
    profile: Profile, secrets: Sequence[str], factories: Mapping[str, VerifierFactory] | None = None
) -> Verifier:
    """The verifier of a source's scheme, holding that source's secrets."""
    if factories and profile.scheme in factories:
        return factories[profile.scheme](profile, secrets)
    if profile.scheme == "twilio":
        raise ConfigurationError("No verifier for Twilio signatures was given to the ingest service.")
    if profile.scheme == "github":
        return GitHubVerifier(secrets)
    if profile.scheme == "stripe":
        return StripeVerifier(secrets, profile.tolerance_seconds)
    if profile.scheme == "hmac":
        assert profile.hmac is not None  # the profile schema requires it for this scheme
        return HmacVerifier(secrets, profile.hmac, profile.tolerance_seconds)
    return StandardWebhookVerifier(secrets)


def parse_secrets(raw: str) -> dict[str, tuple[str, ...]]:
    """Webhook secrets by source.

    A `whsec_...` string or a JSON list of them is the `default` source's (several are valid
    during a rotation); a JSON object maps each source to a secret or a list of them.
    """
    text = raw.strip()
    if not text:
        return {}
    if text[0] not in "[{":
        return {DEFAULT_SOURCE: (text,)}
    try:
        value = json.loads(text)
    except ValueError:
        logger.error("the webhook secret is not valid JSON; rejecting every delivery")
        return {}
    if isinstance(value, list):
        value = {DEFAULT_SOURCE: value}
    if not isinstance(value, dict):
        return {}
    parsed = {}
    for source, secrets in value.items():
        listed = secrets if isinstance(secrets, list) else [secrets]
        parsed[str(source)] = tuple(secret for secret in listed if isinstance(secret, str) and secret)
    return parsed
