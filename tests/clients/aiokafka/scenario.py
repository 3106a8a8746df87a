"""The client matrix scenario with aiokafka; the phases and the record
check are in tests/clients/matrix.py."""

import asyncio
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from matrix import FIRST, PARTITIONS, SECOND, STEP_SECONDS, check_record, fail, run, step  # noqa: E402

CLIENT = "aiokafka"


async def create_topic(bootstrap, topic):
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=STEP_SECONDS * 1000
    )
    await admin.start()
    response = await admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]
    )
    errors = [error for _, error, *_ in response.topic_errors if error != 0]
    if errors:
        fail(f"create topic: {response}")
    await admin.close()
    step(f"created topic {topic} with {PARTITIONS} partitions")


async def produce(bootstrap, topic, indexes):
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=STEP_SECONDS * 1000,
    )
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic, key=f"k{index}".encode(), value=f"{CLIENT}:{index}".encode()
            )
            for index in indexes
        ]
        # Each send's future resolves when the broker acknowledged it.
        await asyncio.wait_for(asyncio.gather(*sends), STEP_SECONDS)
    finally:
        await producer.stop()
    step(f"produced {len(indexes)} records, all acknowledged")


async def consume(bootstrap, topic, group, indexes):
    """Reads in the group until every index is seen once; fails on any other."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    expected = set(indexes)
    seen = set()
    deadline = time.monotonic() + STEP_SECONDS
    while seen != expected:
        if time.monotonic() > deadline:
            fail(f"consumed {len(seen)} of {len(expected)} records in {STEP_SECONDS} s")
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                check_record(record.key, record.value, expected, seen)
    await consumer.commit()
    await consumer.stop()
    step(f"consumed {len(seen)} records in group {group}, committed, closed")


async def admin_checks(bootstrap, topic, group):
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=STEP_SECONDS * 1000
    )
    await admin.start()
    topics = await admin.list_topics()
    if topic not in topics:
        fail(f"list topics: {topic} missing from {sorted(topics)}")
    step("list topics shows the topic")

    (description,) = await admin.describe_topics([topic])
    partitions = description["partitions"]
    if (
        description["error_code"] != 0
        or len(partitions) != PARTITIONS
        or any(partition["leader"] < 0 for partition in partitions)
    ):
        fail(f"describe topic: {description}")
    step(f"describe topic: {len(partitions)} partitions with leaders")

    groups = [listing[0] for listing in await admin.list_consumer_groups()]
    if group not in groups:
        fail(f"list groups: {group} missing from {groups}")
    step("list groups shows the group")

    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.groups
    if described[0] != 0 or described[1] != group:
        fail(f"describe group: {described}")
    step(f"describe group: state {described[2]}")

    await admin.delete_topics([topic])
    deadline = time.monotonic() + STEP_SECONDS
    while topic in await admin.list_topics():
        if time.monotonic() > deadline:
            fail("the deleted topic is still listed")
        await asyncio.sleep(0.2)
    step("deleted the topic; list topics no longer shows it")
    await admin.close()


async def first(bootstrap, topic, group):
    await asyncio.wait_for(create_topic(bootstrap, topic), STEP_SECONDS)
    await asyncio.wait_for(produce(bootstrap, topic, FIRST), STEP_SECONDS)
    await asyncio.wait_for(consume(bootstrap, topic, group, FIRST), STEP_SECONDS + 5)


async def second(bootstrap, topic, group):
    await asyncio.wait_for(produce(bootstrap, topic, SECOND), STEP_SECONDS)
    await asyncio.wait_for(consume(bootstrap, topic, group, SECOND), STEP_SECONDS + 5)
    await asyncio.wait_for(admin_checks(bootstrap, topic, group), STEP_SECONDS + 5)


run(
    CLIENT,
    lambda *arguments: asyncio.run(first(*arguments)),
    lambda *arguments: asyncio.run(second(*arguments)),
)
