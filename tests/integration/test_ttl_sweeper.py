"""The local stand-in for DynamoDB's TTL process, against moto's server: it deletes what expired,
only that, and remembers what it deleted so the stream poller can mark those REMOVE records."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from local.streams import TtlSweeper

if TYPE_CHECKING:
    from local.stack import LocalStack


def test_sweep_deletes_expired_items_only_and_remembers_them(stack: LocalStack) -> None:
    client = stack.client("dynamodb")
    table = f"sweeper-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    now = int(time.time())
    items = {
        "expired": {"expires": {"N": str(now - 5)}},
        "expiring now": {"expires": {"N": str(now)}},
        "live": {"expires": {"N": str(now + 3600)}},
        "no ttl": {},
        "ttl not a number": {"expires": {"S": "yesterday"}},
    }
    for name, extra in items.items():
        client.put_item(
            TableName=table, Item={"pk": {"S": name}, "sk": {"S": "1"}, "payload": {"S": "x" * 100}, **extra}
        )
    sweeper = TtlSweeper(client, {table: "expires"})

    assert sweeper.sweep() == 2

    left = {item["pk"]["S"] for item in client.scan(TableName=table)["Items"]}
    assert left == {"live", "no ttl", "ttl not a number"}
    assert sweeper.deleted_by_ttl(table, {"pk": {"S": "expired"}, "sk": {"S": "1"}})
    assert sweeper.deleted_by_ttl(table, {"sk": {"S": "1"}, "pk": {"S": "expiring now"}})
    assert not sweeper.deleted_by_ttl(table, {"pk": {"S": "live"}, "sk": {"S": "1"}})
    assert sweeper.sweep() == 0
    client.delete_table(TableName=table)
