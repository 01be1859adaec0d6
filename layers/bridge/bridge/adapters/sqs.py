"""The message queue on SQS: the CallMessageQueue port. /twilio/messages answers only once SQS holds the message."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.domain.errors import StoreUnavailable


class SqsCallMessageQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._client = client

    def enqueue(self, body: str) -> None:
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=body)
        except (ClientError, BotoCoreError):
            raise StoreUnavailable("The message queue is unavailable.", retry_after=1) from None
