//! The error codes each API's answer carries, for
//! `corelog_request_errors_total`: one count per code that is not 0, at the
//! level Kafka puts it (the whole response, a topic, a partition, a group).
//!
//! The table (`server/api.rs`) asks every handler's answer for its codes
//! as it turns it into an outcome, so every API is counted in one place.
//! Produce and Fetch are the exceptions: a Produce answer is known only
//! once its writes are durable, and a Fetch answer is counted with its
//! bytes, so their handlers count their own (and their impls here count
//! nothing).
//!
//! Invariants: a code of 0 (no error) is never reported; each answer is
//! counted once.

use kafka_protocol::messages as kafka;

use crate::server::handlers::{
    create_topics, delete_topics, describe_configs, legacy::SameAs, list_offsets,
    offset_for_leader_epoch, record_formats,
};

/// An answer whose error codes can be listed.
pub trait ErrorCodes {
    /// Calls `visit` with every error code the answer carries (0 included;
    /// the caller skips it).
    fn error_codes(&self, visit: &mut dyn FnMut(i16));
}

/// `impl ErrorCodes` for each type, with the body naming where its codes
/// are (`response` and `visit` bound to the answer and the visitor).
macro_rules! error_codes {
    ($($type:ty => |$response:ident, $visit:ident| $body:block)*) => {
        $(
            impl ErrorCodes for $type {
                fn error_codes(&self, $visit: &mut dyn FnMut(i16)) {
                    let $response = self;
                    $body
                }
            }
        )*
    };
}

error_codes! {
    record_formats::ProduceReply => |_response, _visit| {}
    record_formats::FetchAnyReply => |_response, _visit| {}
    list_offsets::Response => |response, visit| {
        response.body.error_codes(visit);
    }
    offset_for_leader_epoch::Response => |response, visit| {
        for topic in &response.0.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::ListOffsetsResponse => |response, visit| {
        for topic in &response.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::MetadataResponse => |response, visit| {
        visit(response.error_code);
        for topic in &response.topics {
            visit(topic.error_code);
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::ApiVersionsResponse => |response, visit| {
        visit(response.error_code);
    }
    create_topics::Response => |response, visit| {
        response.0.topics.iter().for_each(|topic| visit(topic.error_code));
    }
    delete_topics::Response => |response, visit| {
        response.0.responses.iter().for_each(|topic| visit(topic.error_code));
    }
    kafka::CreatePartitionsResponse => |response, visit| {
        response.results.iter().for_each(|topic| visit(topic.error_code));
    }
    kafka::FindCoordinatorResponse => |response, visit| {
        visit(response.error_code);
        response.coordinators.iter().for_each(|found| visit(found.error_code));
    }
    kafka::JoinGroupResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::SyncGroupResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::HeartbeatResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::LeaveGroupResponse => |response, visit| {
        visit(response.error_code);
        response.members.iter().for_each(|member| visit(member.error_code));
    }
    kafka::OffsetCommitResponse => |response, visit| {
        for topic in &response.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::OffsetFetchResponse => |response, visit| {
        visit(response.error_code);
        for topic in &response.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
        for group in &response.groups {
            visit(group.error_code);
            for topic in &group.topics {
                topic.partitions.iter().for_each(|partition| visit(partition.error_code));
            }
        }
    }
    kafka::ListGroupsResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::DescribeClusterResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::DescribeLogDirsResponse => |response, visit| {
        visit(response.error_code);
        response.results.iter().for_each(|result| visit(result.error_code));
    }
    kafka::DescribeGroupsResponse => |response, visit| {
        response.groups.iter().for_each(|group| visit(group.error_code));
    }
    kafka::DeleteGroupsResponse => |response, visit| {
        response.results.iter().for_each(|group| visit(group.error_code));
    }
    kafka::OffsetDeleteResponse => |response, visit| {
        visit(response.error_code);
        for topic in &response.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::InitProducerIdResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::DeleteRecordsResponse => |response, visit| {
        for topic in &response.topics {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    describe_configs::Response => |response, visit| {
        response.0.results.iter().for_each(|result| visit(result.error_code));
    }
    kafka::AlterConfigsResponse => |response, visit| {
        response.responses.iter().for_each(|result| visit(result.error_code));
    }
    kafka::IncrementalAlterConfigsResponse => |response, visit| {
        response.responses.iter().for_each(|result| visit(result.error_code));
    }
    kafka::ConsumerGroupHeartbeatResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::ConsumerGroupDescribeResponse => |response, visit| {
        response.groups.iter().for_each(|group| visit(group.error_code));
    }
    kafka::AlterPartitionReassignmentsResponse => |response, visit| {
        visit(response.error_code);
        for topic in &response.responses {
            topic.partitions.iter().for_each(|partition| visit(partition.error_code));
        }
    }
    kafka::ListPartitionReassignmentsResponse => |response, visit| {
        visit(response.error_code);
    }
    kafka::UnregisterBrokerResponse => |response, visit| {
        visit(response.error_code);
    }
}

impl<T: ErrorCodes, const OLDEST: i16> ErrorCodes for SameAs<T, OLDEST> {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        self.0.error_codes(visit);
    }
}

/// Counts the error codes (not 0) of an answer of `api_key`.
pub fn count(api_key: i16, answer: &impl ErrorCodes) {
    answer.error_codes(&mut |code| {
        if code != 0 {
            super::count_error(api_key, code);
        }
    });
}
