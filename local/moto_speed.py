"""Three of moto's costs that DynamoDB does not have, taken out of the local stack. None changes an
answer; they made moto, not the bridge, the bottleneck of the burst bench (bench/burst).

- moto finds the service of every request by listing its own package directory and stat-ing each
  entry, under the lock that every request takes: the list never changes while a server runs.
- moto answers a Query on a table's partition key by sorting every item of the table, then keeping
  the partition's: DynamoDB reads only the partition. A parked table of thousands of events made each
  Query cost ~6 ms of moto's CPU.
- moto answers GetRecords through its model-driven serializer, attribute by attribute, for records
  that are already DynamoDB JSON: the stream reads were the largest share of moto's CPU. They are
  written as the JSON they are, as moto writes their size.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_partition = threading.local()


@cache
def apply() -> None:
    """Patches moto's classes, once per process however often it is called."""
    from moto import backends
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    query, all_items = Table.query, Table.all_items

    def partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _partition.key = hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = None

    def partition_items(self: Table) -> Any:
        key = getattr(_partition, "key", None)
        if key is None:
            return all_items(self)
        found = self.items.get(key)
        if found is None:
            return []
        # query keeps the items whose hash key matches and sorts them by range key itself.
        return list(found.values()) if self.range_key_attr else [found]

    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = partition_items  # type: ignore[method-assign]

    def get_records(self: DynamoDBStreamsHandler) -> str:
        limit = self._get_param("Limit")
        return dynamo_json_dump(self.backend.get_records(self._get_param("ShardIterator"), limit or 1000))

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign,assignment]
