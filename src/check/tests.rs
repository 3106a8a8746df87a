use std::collections::BTreeMap;

use super::data_dir::{filesystem_check, filesystem_name, free_space_check};
use super::host::{
    governor_check, is_numbered, parse_bracketed, parse_governor, parse_kernel_version, thp_check,
};
use super::*;

#[test]
fn kernel_versions_are_read_from_releases() {
    assert_eq!(parse_kernel_version("6.1.0-18-amd64"), Some((6, 1)));
    assert_eq!(parse_kernel_version("5.15.0"), Some((5, 15)));
    assert_eq!(parse_kernel_version("5.8"), Some((5, 8)));
    assert_eq!(parse_kernel_version("6.18.44-fc-v857"), Some((6, 18)));
    assert_eq!(parse_kernel_version("4.19.0+"), Some((4, 19)));
    assert_eq!(parse_kernel_version(""), None);
    assert_eq!(parse_kernel_version("linux"), None);
    assert_eq!(parse_kernel_version("6"), None);
    // 5.10 is newer than 5.8: compared as numbers, not text.
    assert!(parse_kernel_version("5.10.1").unwrap() >= host::KERNEL_VERSION_MIN);
    assert!(parse_kernel_version("5.7.0").unwrap() < host::KERNEL_VERSION_MIN);
}

#[test]
fn governors_pass_only_when_every_cpu_runs_performance() {
    assert_eq!(parse_governor("performance\n"), Some("performance"));
    assert_eq!(parse_governor("  \n"), None);
    let of = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs
            .iter()
            .map(|(name, cpus)| (name.to_string(), *cpus))
            .collect()
    };
    assert_eq!(governor_check(&of(&[])).status, Status::Info);
    assert_eq!(
        governor_check(&of(&[("performance", 8)])).status,
        Status::Pass
    );
    let mixed = governor_check(&of(&[("performance", 6), ("powersave", 2)]));
    assert_eq!(mixed.status, Status::Warn);
    assert!(mixed.found.contains("powersave on 2 CPUs"), "{mixed}");
    assert!(mixed.fix.is_some());
    assert_eq!(
        governor_check(&of(&[("schedutil", 4)])).status,
        Status::Warn
    );
}

#[test]
fn transparent_huge_pages_are_read_from_the_bracket() {
    assert_eq!(parse_bracketed("always [madvise] never\n"), Some("madvise"));
    assert_eq!(parse_bracketed("[always] madvise never"), Some("always"));
    assert_eq!(parse_bracketed("always madvise [never]"), Some("never"));
    assert_eq!(parse_bracketed("always madvise never"), None);
    assert_eq!(parse_bracketed("[always"), None);
    assert_eq!(thp_check(Some("never")).status, Status::Pass);
    assert_eq!(thp_check(Some("madvise")).status, Status::Pass);
    assert_eq!(thp_check(Some("always")).status, Status::Warn);
    assert_eq!(thp_check(None).status, Status::Info);
}

#[test]
fn numbered_entries_are_cpus_and_nodes_only() {
    assert!(is_numbered("cpu0", "cpu"));
    assert!(is_numbered("cpu127", "cpu"));
    assert!(is_numbered("node1", "node"));
    assert!(!is_numbered("cpufreq", "cpu"));
    assert!(!is_numbered("cpuidle", "cpu"));
    assert!(!is_numbered("cpu", "cpu"));
    assert!(!is_numbered("has_cpu", "node"));
}

#[test]
fn filesystems_are_judged_by_their_magic() {
    assert_eq!(filesystem_name(0x5846_5342), Some("xfs"));
    assert_eq!(filesystem_check(0x5846_5342).status, Status::Pass);
    assert_eq!(filesystem_check(0xEF53).status, Status::Pass);
    assert_eq!(filesystem_check(0x0102_1994).status, Status::Warn);
    assert_eq!(filesystem_check(0x794C_7630).status, Status::Warn);
    assert_eq!(filesystem_check(0x9123_683E).status, Status::Info);
    assert_eq!(filesystem_check(0x1234).status, Status::Info);
}

#[test]
fn free_space_fails_below_a_segment_and_warns_below_a_tenth() {
    const GIB: u64 = 1024 * 1024 * 1024;
    assert_eq!(free_space_check(GIB / 2, 100 * GIB).status, Status::Fail);
    assert_eq!(free_space_check(5 * GIB, 100 * GIB).status, Status::Warn);
    assert_eq!(free_space_check(50 * GIB, 100 * GIB).status, Status::Pass);
}

#[test]
fn a_report_line_names_the_status_the_check_and_the_fix() {
    let line = Check::new("thp", Status::Warn, "always")
        .fix("use madvise")
        .to_string();
    assert_eq!(line, "WARN  thp         always. Fix: use madvise");
    let checks = [
        Check::new("kernel", Status::Pass, ""),
        Check::new("numa", Status::Fail, ""),
    ];
    assert!(failed(&checks));
    assert!(!failed(&checks[..1]));
    assert_eq!(
        summary(&checks),
        "corelog check: 1 PASS, 0 WARN, 1 FAIL, 0 INFO"
    );
}
