"""The local stack's shortcuts in moto (local/moto_speed.py) change no answer: a Query on the partition
key still returns exactly that partition, in range order, paged; an index Query still sees every
partition; GetRecords still returns each change's keys, images, time and sequence, as boto3 parses them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack


def _table(stack: LocalStack, *, stream: bool = False, index: bool = False) -> str:
    name = f"speed-{uuid.uuid4().hex[:8]}"
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if index:
        extra["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by-colour",
                "KeySchema": [{"AttributeName": "colour", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    stack.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            *([{"AttributeName": "colour", "AttributeType": "S"}] if index else []),
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def test_a_partition_query_returns_that_partition_in_range_order_and_pages(stack: LocalStack) -> None:
    client = stack.client("dynamodb")
    table = _table(stack, index=True)
    for pk in ("a", "b", "c"):
        for sk in (3, 1, 10, 2):
            colour = "red" if sk % 2 else "blue"
            client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"N": str(sk)}, "colour": {"S": colour}})

    def query(**extra: Any) -> dict[str, Any]:
        return client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "b"}},
            ConsistentRead=True,
            **extra,
        )

    assert [(i["pk"]["S"], i["sk"]["N"]) for i in query()["Items"]] == [("b", "1"), ("b", "2"), ("b", "3"), ("b", "10")]
    assert [i["sk"]["N"] for i in query(ScanIndexForward=False)["Items"]] == ["10", "3", "2", "1"]
    first = query(Limit=3)
    rest = query(Limit=3, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["sk"]["N"] for i in first["Items"] + rest["Items"]] == ["1", "2", "3", "10"]
    assert "LastEvaluatedKey" not in rest
    missing = client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "nobody"}}
    )
    assert missing["Items"] == []
    by_colour = client.query(
        TableName=table,
        IndexName="by-colour",
        KeyConditionExpression="colour = :c",
        ExpressionAttributeValues={":c": {"S": "red"}},
    )
    assert sorted((i["pk"]["S"], i["sk"]["N"]) for i in by_colour["Items"]) == [
        (pk, sk) for pk in ("a", "b", "c") for sk in ("1", "3")
    ]


def test_stream_records_carry_each_changes_keys_images_time_and_sequence(stack: LocalStack) -> None:
    client, streams = stack.client("dynamodb"), stack.client("dynamodbstreams")
    table = _table(stack, stream=True)
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    item = {
        "pk": {"S": "k"},
        "sk": {"N": "1"},
        "text": {"S": "héllo"},
        "count": {"N": "12.5"},
        "raw": {"B": b"\x00\xffbytes"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "2"}]}, "set": {"SS": ["p", "q"]}}},
    }
    client.put_item(TableName=table, Item=item)
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "k"}, "sk": {"N": "1"}},
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":c": {"N": "13"}},
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}})

    page = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
    records = page["Records"]
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    inserted, modified, removed = (record["dynamodb"] for record in records)
    assert inserted["NewImage"] == item
    assert modified["OldImage"] == item
    assert modified["NewImage"] == {**item, "count": {"N": "13"}}
    assert removed["OldImage"] == {**item, "count": {"N": "13"}}
    assert all(record["Keys"] == {"pk": {"S": "k"}, "sk": {"N": "1"}} for record in (inserted, modified, removed))
    assert all(isinstance(record["ApproximateCreationDateTime"], datetime) for record in (inserted, modified, removed))
    sequence = [int(record["SequenceNumber"]) for record in (inserted, modified, removed)]
    assert sequence == sorted(set(sequence))
    assert all(record["eventSource"] == "aws:dynamodb" for record in records)

    again = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert again["Records"] == []
    client.put_item(TableName=table, Item={"pk": {"S": "later"}, "sk": {"N": "2"}})
    later = streams.get_records(ShardIterator=again["NextShardIterator"])["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in later] == [("INSERT", "later")]
