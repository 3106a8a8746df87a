"""The client matrix scenario with kafka-python; the phases and the record
check are in tests/clients/matrix.py."""

import sys
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from matrix import FIRST, PARTITIONS, SECOND, STEP_SECONDS, check_record, fail, run, step  # noqa: E402

CLIENT = "kafka-python"


def admin_client(bootstrap):
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=STEP_SECONDS * 1000
    )


def create_topic(bootstrap, topic):
    admin = admin_client(bootstrap)
    admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        timeout_ms=STEP_SECONDS * 1000,
    )
    admin.close()
    step(f"created topic {topic} with {PARTITIONS} partitions")


def produce(bootstrap, topic, indexes):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=STEP_SECONDS * 1000,
    )
    sends = [
        producer.send(topic, key=f"k{index}".encode(), value=f"{CLIENT}:{index}".encode())
        for index in indexes
    ]
    producer.flush(timeout=STEP_SECONDS)
    for send in sends:
        send.get(timeout=STEP_SECONDS)  # raises the send's error, if any
    producer.close(timeout=STEP_SECONDS)
    step(f"produced {len(indexes)} records, all acknowledged")


def consume(bootstrap, topic, group, indexes):
    """Reads in the group until every index is seen once; fails on any other."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    expected = set(indexes)
    seen = set()
    deadline = time.monotonic() + STEP_SECONDS
    while seen != expected:
        if time.monotonic() > deadline:
            fail(f"consumed {len(seen)} of {len(expected)} records in {STEP_SECONDS} s")
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                check_record(record.key, record.value, expected, seen)
    consumer.commit()  # synchronous
    consumer.close(autocommit=False)
    step(f"consumed {len(seen)} records in group {group}, committed, closed")


def admin_checks(bootstrap, topic, group):
    admin = admin_client(bootstrap)
    topics = admin.list_topics()
    if topic not in topics:
        fail(f"list topics: {topic} missing from {sorted(topics)}")
    step("list topics shows the topic")

    (description,) = admin.describe_topics([topic])
    partitions = description["partitions"]
    if (
        description["error_code"] != 0
        or len(partitions) != PARTITIONS
        or any(partition["leader_id"] < 0 for partition in partitions)
    ):
        fail(f"describe topic: {description}")
    step(f"describe topic: {len(partitions)} partitions with leaders")

    groups = [listing["group_id"] for listing in admin.list_groups()]
    if group not in groups:
        fail(f"list groups: {group} missing from {groups}")
    step("list groups shows the group")

    described = admin.describe_groups([group]).get(group)
    if not described or described["error"] is not None:
        fail(f"describe group: {described}")
    step(f"describe group: state {described['group_state']}")

    admin.delete_topics([topic], timeout_ms=STEP_SECONDS * 1000)
    deadline = time.monotonic() + STEP_SECONDS
    while topic in admin.list_topics():
        if time.monotonic() > deadline:
            fail("the deleted topic is still listed")
        time.sleep(0.2)
    step("deleted the topic; list topics no longer shows it")
    admin.close()


def first(bootstrap, topic, group):
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, FIRST)
    consume(bootstrap, topic, group, FIRST)


def second(bootstrap, topic, group):
    produce(bootstrap, topic, SECOND)
    consume(bootstrap, topic, group, SECOND)
    admin_checks(bootstrap, topic, group)


run(CLIENT, first, second)
