//! ListGroups (key 16), v0-v5: the groups this node coordinates, classic
//! and consumer-protocol ones. Admin clients ask every node and merge the
//! answers, as with Kafka.

use std::ops::RangeInclusive;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = context.version;
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|state| state.to_string())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|kind| kind.to_string())
        .collect();
    let groups = shard
        .groups
        .list_groups(&states, &types)
        .into_iter()
        .map(|group| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group.group_id)))
                .with_protocol_type(StrBytes::from_string(group.protocol_type));
            if version >= 4 {
                listed.group_state = StrBytes::from_static_str(group.state);
            }
            if version >= 5 {
                listed.group_type = StrBytes::from_static_str(group.group_type);
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
