"""Domain errors. Each one knows its RFC 9457 problem type, HTTP status and outcome name.

Adapters raise these instead of SDK exceptions, so the use case and the API never see
boto3's ClientError or twilio's TwilioException.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bridge.domain.outcomes import Happening, Outcome

PROBLEM_TYPE_PREFIX = "urn:udm-bridge:problem:"


class BridgeError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    # The outcome this error is counted and logged under; "rejected" outcomes carry the code as reason.
    outcome: ClassVar[Outcome] = Outcome.REJECTED

    def __init__(self, detail: str, *, retry_after: int | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.extensions = extensions
        # What the failing use case had done before it failed, for the entry point to record.
        self.happened: list[Happening] = []

    @property
    def problem_type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.code

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.problem_type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extensions)
        return body


class ConfigurationError(BridgeError):
    """The deployment is wrong (a variable or a secret); the sender is not at fault."""

    code = "configuration_error"
    title = "The bridge is misconfigured"
    outcome = Outcome.ERROR


class Unauthenticated(BridgeError):
    status = 401
    code = "invalid_signature"
    title = "The webhook signature could not be verified"


class MalformedBody(BridgeError):
    status = 400
    code = "malformed_body"
    title = "The body is not valid JSON"


class BodyTooLarge(BridgeError):
    status = 413
    code = "body_too_large"
    title = "The body is too large"


class InputLimitExceeded(BridgeError):
    """A body within the size limit that breaks another input limit (nesting depth, number length)."""

    status = 400
    code = "input_limit_exceeded"
    title = "The body exceeds an input limit"


class InvalidTwilioSignature(BridgeError):
    status = 403
    code = "invalid_twilio_signature"
    title = "The Twilio signature could not be verified"


class InvalidCallback(BridgeError):
    status = 400
    code = "invalid_callback"
    title = "The status callback is malformed"


class InvalidRequest(BridgeError):
    status = 400
    code = "invalid_request"
    title = "The request is invalid"


class UnsupportedMediaType(BridgeError):
    status = 415
    code = "unsupported_media_type"
    title = "The body must be application/json"


class SchemaViolation(BridgeError):
    status = 422
    code = "schema_violation"
    title = "The event does not match its schema"


class RegistrationSchemaViolation(SchemaViolation):
    title = "The call registration does not match its schema"


class EventIdReused(BridgeError):
    status = 422
    code = "event_id_reused"
    title = "This event ID was already used for a different payload"


class ContentTooLarge(BridgeError):
    status = 413
    code = "content_too_large"
    title = "The message content is too large"


class NoActiveCall(BridgeError):
    # 404, not 410: Standard Webhooks senders disable an endpoint that answers 410.
    status = 404
    code = "no_active_call"
    title = "The recipient has no active call"
    outcome = Outcome.NO_ACTIVE_CALL


class CallNotActive(NoActiveCall):
    """Twilio says the mapped call has ended or does not exist: the mapping is stale.

    `mapping_removed` says whether the delivery that heard it ended that call in the registry
    (False when a newer registration had already replaced it)."""

    def __init__(
        self, detail: str, *, call_sid: str, twilio_code: int | None = None, mapping_removed: bool = False
    ) -> None:
        super().__init__(detail)
        self.call_sid = call_sid
        self.twilio_code = twilio_code
        self.mapping_removed = mapping_removed


class EventInProgress(BridgeError):
    status = 409
    code = "event_in_progress"
    title = "The same event is being processed right now"


class TwilioError(BridgeError):
    status = 502
    outcome = Outcome.TWILIO_ERROR

    def __init__(self, detail: str, *, twilio_code: int | None = None, **kwargs: Any) -> None:
        if twilio_code is not None:
            kwargs["twilio_code"] = twilio_code
        super().__init__(detail, **kwargs)
        self.twilio_code = twilio_code


class TwilioCredentialsRejected(TwilioError):
    code = "twilio_credentials_rejected"
    title = "Twilio rejected the bridge's credentials"


class TwilioRejected(TwilioError):
    code = "twilio_rejected"
    title = "Twilio refused the message"


class TwilioUnavailable(TwilioError):
    status = 503
    code = "twilio_unavailable"
    title = "Twilio is unavailable; retry later"


class StoreUnavailable(BridgeError):
    """DynamoDB or Secrets Manager failed transiently."""

    status = 503
    code = "store_unavailable"
    title = "A backing store is unavailable; retry later"
    outcome = Outcome.UNAVAILABLE


class BatchUnsettled(BridgeError):
    """Some events of a batch hit a failure a retry may fix; the retry redoes only those (the others
    are claimed, and answer as they did)."""

    status = 503
    code = "batch_unsettled"
    title = "Some events of the batch could not be handled yet; retry later"
    outcome = Outcome.UNAVAILABLE


class CallNotFound(BridgeError):
    status = 404
    code = "call_not_found"
    title = "No call is registered for this key"


class CallMismatch(BridgeError):
    status = 409
    code = "call_mismatch"
    title = "A different call is registered for this key"


class UnknownSource(BridgeError):
    status = 404
    code = "unknown_source"
    title = "No such source"


class RouteNotFound(BridgeError):
    status = 404
    code = "not_found"
    title = "No such route"


class ForwardRefused(Exception):
    """What no retry of a forwarded call message changes: the receiver's answer (a 4xx other than
    429, a 3xx; `status`), or a request that can't be made at all (an invalid URL or header)."""

    def __init__(self, status: int | None, detail: str | None = None) -> None:
        super().__init__(detail or f"the receiver answered {status}")
        self.status = status
