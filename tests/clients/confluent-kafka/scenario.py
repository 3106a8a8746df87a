"""The client matrix scenario with confluent-kafka; the phases and the record
check are in tests/clients/matrix.py."""

import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from matrix import FIRST, PARTITIONS, SECOND, STEP_SECONDS, check_record, fail, run, step  # noqa: E402

CLIENT = "confluent-kafka"


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


def first(bootstrap, topic, group):
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, FIRST)
    consume(bootstrap, topic, group, FIRST)


def second(bootstrap, topic, group):
    produce(bootstrap, topic, SECOND)
    consume(bootstrap, topic, group, SECOND)
    admin_checks(bootstrap, topic, group)


run(CLIENT, first, second)
