"""KIP-848 scenario for tests/consumer_protocol.rs, with confluent-kafka
(librdkafka) consumers using group.protocol=consumer.

  scenario.py first  <bootstrap> <topic> <group> <classic-group>
  scenario.py second <bootstrap> <topic> <group> <classic-group>

first: two consumer-protocol consumers split the 4-partition topic 2/2, read
records 0..200 once between them and commit; one leaves and the other takes
all four partitions and reads 200..300. A classic consumer in another group
reads all 300 at the same time. The admin client lists both groups with
their types and describes the consumer group.

second (after a broker restart): records 300..350 are produced; a new
consumer-protocol consumer in the group and a classic one in the classic group
each read exactly those (older ones mean commits were lost).

Prints `ok` last; any failure exits 1 with the reason on stderr.
"""

import sys
import time

from confluent_kafka import (
    ConsumerGroupType,
    Consumer,
    KafkaException,
    Producer,
)
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
STEP_SECONDS = 60


def step(text):
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def fail(reason):
    print(f"consumer-protocol scenario: {reason}", file=sys.stderr, flush=True)
    sys.exit(1)


def produce(bootstrap, topic, indexes):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    errors = []

    def delivered(error, message):
        if error is not None:
            errors.append(str(error))

    for index in indexes:
        producer.produce(
            topic, partition=index % PARTITIONS, value=str(index), on_delivery=delivered
        )
    if producer.flush(STEP_SECONDS) != 0 or errors:
        fail(f"produce failed: {errors[:3]}")
    step(f"produced records {indexes.start}..{indexes.stop}")


def consumer(bootstrap, group, protocol, name):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    if protocol == "consumer":
        config["group.protocol"] = "consumer"
    return Consumer(config)


class Reader:
    """A consumer and what it read. It commits synchronously whenever a
    poll comes back empty, so what it read is committed before it leaves."""

    def __init__(self, name, client, reads):
        self.name = name
        self.client = client
        self.reads = reads
        self.uncommitted = False

    def poll(self):
        message = self.client.poll(0.05)
        if message is None:
            if self.uncommitted:
                self.commit()
            return
        if message.error():
            fail(f"{self.name}: {message.error()}")
        index = int(message.value())
        self.reads.setdefault(index, []).append(self.name)
        self.uncommitted = True

    def commit(self):
        # A commit racing a heartbeat that moved the member epoch gets
        # STALE_MEMBER_EPOCH; librdkafka then has the new epoch, so retry.
        last = None
        for _ in range(50):
            try:
                self.client.commit(asynchronous=False)
                self.uncommitted = False
                return
            except KafkaException as error:
                last = error
                time.sleep(0.1)
        fail(f"{self.name}: commit kept failing: {last}")

    def close(self):
        if self.uncommitted:
            self.commit()
        self.client.close()

    def partitions(self):
        return sorted(tp.partition for tp in self.client.assignment())


def poll_until(readers, condition, what):
    deadline = time.time() + STEP_SECONDS
    while not condition():
        if time.time() > deadline:
            states = {reader.name: reader.partitions() for reader in readers}
            fail(f"timed out waiting for {what}; assignments {states}")
        for reader in readers:
            reader.poll()
    step(what)


def exactly_once(reads, indexes, who):
    missing = [index for index in indexes if index not in reads]
    twice = {index: names for index, names in reads.items() if len(names) > 1}
    extra = [index for index in reads if index not in indexes]
    if missing or twice or extra:
        fail(
            f"{who}: missing {missing[:10]}, read twice {list(twice.items())[:10]}, "
            f"unexpected {extra[:10]}"
        )
    step(f"{who}: each of records {indexes.start}..{indexes.stop} read exactly once")


def first(bootstrap, topic, group, classic_group):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[
        topic
    ].result(timeout=STEP_SECONDS)
    step(f"created {topic} with {PARTITIONS} partitions")

    reads = {}
    classic_reads = {}
    first_member = Reader("a", consumer(bootstrap, group, "consumer", "a"), reads)
    second_member = Reader("b", consumer(bootstrap, group, "consumer", "b"), reads)
    classic = Reader("classic", consumer(bootstrap, classic_group, "classic", "c"), classic_reads)
    readers = [first_member, second_member, classic]
    first_member.client.subscribe([topic])
    classic.client.subscribe([topic])
    poll_until(readers[:1] + [classic], lambda: len(first_member.partitions()) == PARTITIONS,
               "a alone owns all 4 partitions")
    second_member.client.subscribe([topic])

    def split():
        a, b = first_member.partitions(), second_member.partitions()
        return len(a) == 2 and len(b) == 2 and sorted(a + b) == list(range(PARTITIONS))

    poll_until(readers, split, "a and b split the partitions 2/2 (revocation before reassignment)")

    groups = admin.list_consumer_groups().result(timeout=STEP_SECONDS)
    types = {listing.group_id: listing.type for listing in groups.valid}
    if types.get(group) != ConsumerGroupType.CONSUMER or types.get(classic_group) != ConsumerGroupType.CLASSIC:
        fail(f"ListGroups types: {types}")
    step(f"ListGroups shows {group} as consumer and {classic_group} as classic")
    described = admin.describe_consumer_groups([group])[group].result(timeout=STEP_SECONDS)
    assigned = sorted(
        tp.partition for member in described.members for tp in member.assignment.topic_partitions
    )
    if len(described.members) != 2 or assigned != list(range(PARTITIONS)):
        fail(f"described {group}: {described.members}, state {described.state}")
    step(f"ConsumerGroupDescribe shows 2 members owning partitions {assigned}")

    produce(bootstrap, topic, range(0, 200))
    poll_until(readers, lambda: len(reads) >= 200 and len(classic_reads) >= 200,
               "records 0..200 read in both groups")
    # a leaves (member epoch -1): b takes over a's partitions from a's commits.
    first_member.close()
    readers = [second_member, classic]
    poll_until(readers, lambda: len(second_member.partitions()) == PARTITIONS,
               "after a left, b owns all 4 partitions")
    produce(bootstrap, topic, range(200, 300))
    poll_until(readers, lambda: len(reads) >= 300 and len(classic_reads) >= 300,
               "records 200..300 read in both groups")
    # Late duplicates would arrive now.
    end = time.time() + 1
    while time.time() < end:
        for reader in readers:
            reader.poll()
    exactly_once(reads, range(0, 300), f"group {group}")
    exactly_once(classic_reads, range(0, 300), f"group {classic_group}")
    if any(reads[index] != ["b"] for index in range(200, 300)):
        fail("records 200..300 were not all read by b")
    second_member.close()
    classic.close()


def second(bootstrap, topic, group, classic_group):
    produce(bootstrap, topic, range(300, 350))
    reads = {}
    classic_reads = {}
    member = Reader("d", consumer(bootstrap, group, "consumer", "d"), reads)
    classic = Reader("classic", consumer(bootstrap, classic_group, "classic", "c2"), classic_reads)
    member.client.subscribe([topic])
    classic.client.subscribe([topic])
    readers = [member, classic]
    poll_until(readers, lambda: len(reads) >= 50 and len(classic_reads) >= 50,
               "50 records read in both groups after the restart")
    end = time.time() + 1
    while time.time() < end:
        for reader in readers:
            reader.poll()
    exactly_once(reads, range(300, 350), f"group {group} after restart")
    exactly_once(classic_reads, range(300, 350), f"group {classic_group} after restart")
    member.close()
    classic.close()


def main():
    if len(sys.argv) != 6:
        fail(__doc__)
    phase, bootstrap, topic, group, classic_group = sys.argv[1:]
    {"first": first, "second": second}[phase](bootstrap, topic, group, classic_group)
    print("ok", flush=True)


main()
