"""The client matrix scenario (tests/client_matrix.rs) with kafka-python.

Phase `first`: create the topic, produce records 0..100, read them in the group,
commit. Phase `second` (after a broker restart): produce 100..150, read exactly
those in the group (older ones mean the commits were lost), then the admin
calls, and `ok` last.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

CLIENT = "kafka-python"
STEP_SECONDS = 60
PARTITIONS = 3


def step(text):
    print(text, flush=True)


def fail(reason):
    print(f"{CLIENT}: {reason}", file=sys.stderr, flush=True)
    sys.exit(1)


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
