"""The client matrix scenario (tests/client_matrix.rs) with confluent-kafka.

Phase `first`: create the topic, produce records 0..100, read them in the group,
commit. Phase `second` (after a broker restart): produce 100..150, read exactly
those in the group (older ones mean the commits were lost), then the admin
calls, and `ok` last.
"""

import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

CLIENT = "confluent-kafka"
STEP_SECONDS = 60
PARTITIONS = 3


def step(text):
    print(text, flush=True)


def fail(reason):
    print(f"{CLIENT}: {reason}", file=sys.stderr, flush=True)
    sys.exit(1)


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        request_timeout=STEP_SECONDS,
    )
    futures[topic].result(timeout=STEP_SECONDS)
    step(f"created topic {topic} with {PARTITIONS} partitions")


def produce(bootstrap, topic, indexes):
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": STEP_SECONDS * 1000,
        }
    )
    acknowledged = set()
    errors = []

    def delivered(error, message):
        if error is not None:
            errors.append(f"{message.key()}: {error}")
        else:
            acknowledged.add(message.value().decode())

    for index in indexes:
        producer.produce(
            topic, key=f"k{index}", value=f"{CLIENT}:{index}", on_delivery=delivered
        )
    left = producer.flush(STEP_SECONDS)
    if errors:
        fail(f"produce failed: {errors[:5]}")
    if left or len(acknowledged) != len(indexes):
        fail(f"only {len(acknowledged)} of {len(indexes)} sends acknowledged")
    step(f"produced {len(indexes)} records, all acknowledged")


def consume(bootstrap, topic, group, indexes):
    """Reads in the group until every index is seen once; fails on any other."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    expected = set(indexes)
    seen = set()
    deadline = time.monotonic() + STEP_SECONDS
    while seen != expected:
        if time.monotonic() > deadline:
            fail(f"consumed {len(seen)} of {len(expected)} records in {STEP_SECONDS} s")
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail(f"consume error: {message.error()}")
        check_record(message.key(), message.value(), expected, seen)
    consumer.commit(asynchronous=False)
    consumer.close()
    step(f"consumed {len(seen)} records in group {group}, committed, closed")


def check_record(key, value, expected, seen):
    key, value = (key or b"").decode(), (value or b"").decode()
    client, _, number = value.partition(":")
    if client != CLIENT or not number.isdigit():
        fail(f"unexpected record {key}={value}")
    index = int(number)
    if index not in expected:
        fail(f"record {value} is not one of this phase's: committed offsets lost?")
    if index in seen:
        fail(f"record {value} delivered twice")
    if key != f"k{index}":
        fail(f"record {value} has key {key}")
    seen.add(index)


def admin_checks(bootstrap, topic, group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = admin.list_topics(timeout=STEP_SECONDS).topics
    if topic not in topics:
        fail(f"list topics: {topic} missing from {sorted(topics)}")
    step("list topics shows the topic")

    description = admin.describe_topics(
        TopicCollection([topic]), request_timeout=STEP_SECONDS
    )[topic].result(timeout=STEP_SECONDS)
    partitions = description.partitions
    if len(partitions) != PARTITIONS or any(p.leader is None for p in partitions):
        fail(f"describe topic: {description}")
    step(f"describe topic: {len(partitions)} partitions with leaders")

    groups = admin.list_consumer_groups(request_timeout=STEP_SECONDS).result(
        timeout=STEP_SECONDS
    )
    if group not in [listing.group_id for listing in groups.valid]:
        fail(f"list groups: {group} missing from {groups.valid} (errors {groups.errors})")
    step("list groups shows the group")

    described = admin.describe_consumer_groups([group], request_timeout=STEP_SECONDS)[
        group
    ].result(timeout=STEP_SECONDS)
    if described.group_id != group:
        fail(f"describe group: {described}")
    step(f"describe group: state {described.state}")

    admin.delete_topics([topic], request_timeout=STEP_SECONDS)[topic].result(
        timeout=STEP_SECONDS
    )
    deadline = time.monotonic() + STEP_SECONDS
    while topic in admin.list_topics(timeout=STEP_SECONDS).topics:
        if time.monotonic() > deadline:
            fail("the deleted topic is still listed")
        time.sleep(0.2)
    step("deleted the topic; list topics no longer shows it")


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("first", "second"):
        fail("usage: run <first|second> <bootstrap> <topic> <group>")
    phase, bootstrap, topic, group = sys.argv[1:]
    try:
        if phase == "first":
            create_topic(bootstrap, topic)
            produce(bootstrap, topic, range(0, 100))
            consume(bootstrap, topic, group, range(0, 100))
        else:
            produce(bootstrap, topic, range(100, 150))
            consume(bootstrap, topic, group, range(100, 150))
            admin_checks(bootstrap, topic, group)
            step("ok")
    except Exception as error:  # any client error ends the scenario with its reason
        fail(f"{type(error).__name__}: {error}")


main()
