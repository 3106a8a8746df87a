//! Bounds from `limits.rs` that a client can reach over the wire, checked
//! on the real broker.

mod common;

use common::{name, Broker, Client};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, MetadataRequest};

/// `limits::PARTITIONS_PER_TOPIC_MAX`.
const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
/// Kafka's INVALID_PARTITIONS.
const INVALID_PARTITIONS: i16 = 37;

fn create(client: &mut Client, topic: CreatableTopic) -> CreatableTopicResult {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![topic]);
    client.send(&request, 7).topics.remove(0)
}

/// A topic placed by hand: `count` partitions, each on node 0.
fn assigned(topic: &str, count: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            (0..count)
                .map(|partition| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(partition)
                        .with_broker_ids(vec![BrokerId(0)])
                })
                .collect(),
        )
}

fn topic_exists(client: &mut Client, topic: &str) -> bool {
    let request = MetadataRequest::default().with_topics(None);
    let response = client.send(&request, 9);
    response.topics.iter().any(|known| {
        known
            .name
            .as_ref()
            .is_some_and(|known| known.0.as_str() == topic)
    })
}

#[test]
fn explicit_assignments_are_held_to_the_partitions_per_topic_cap() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);

    // A partition count over the cap: the answer an assignment must match.
    let counted = create(
        &mut client,
        CreatableTopic::default()
            .with_name(name("counted"))
            .with_num_partitions(PARTITIONS_PER_TOPIC_MAX + 1)
            .with_replication_factor(1),
    );
    assert_eq!(counted.error_code, INVALID_PARTITIONS);

    let over = create(
        &mut client,
        assigned("assigned-over", PARTITIONS_PER_TOPIC_MAX + 1),
    );
    assert_eq!(
        over.error_code, INVALID_PARTITIONS,
        "{:?}",
        over.error_message
    );
    let message = over.error_message.as_deref().map(|text| text.to_string());
    let counted_message = counted
        .error_message
        .as_deref()
        .map(|text| text.to_string());
    assert_eq!(message, counted_message);
    assert!(!topic_exists(&mut client, "assigned-over"));

    // Within the cap, an explicit assignment still creates the topic.
    let within = create(&mut client, assigned("assigned-within", 3));
    assert_eq!(within.error_code, 0, "{:?}", within.error_message);
    assert_eq!(within.num_partitions, 3);
    assert!(topic_exists(&mut client, "assigned-within"));
}
