//! ListGroups (key 16), v0-v5: the groups this node coordinates. Admin
//! clients ask every node and merge the answers, as with Kafka.

use std::ops::RangeInclusive;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// The classic group protocol (JoinGroup/SyncGroup), the only one served.
const GROUP_TYPE: &str = "classic";

pub fn handle(shard: &Shard, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|state| state.to_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|kind| kind.to_lowercase())
        .collect();
    if !types.is_empty() && !types.iter().any(|kind| kind == GROUP_TYPE) {
        return ListGroupsResponse::default();
    }
    let mut groups: Vec<ListedGroup> = shard
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| states.is_empty() || states.contains(&state.name().to_lowercase()))
        .map(|(group_id, protocol_type, state)| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group_id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            if version >= 4 {
                listed.group_state = StrBytes::from_static_str(state.name());
            }
            if version >= 5 {
                listed.group_type = StrBytes::from_static_str(GROUP_TYPE);
            }
            listed
        })
        .collect();
    groups.sort_by(|left, right| left.group_id.0.cmp(&right.group_id.0));
    ListGroupsResponse::default().with_groups(groups)
}
