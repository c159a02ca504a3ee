use super::*;
use serde_json::json;

#[test]
fn defaults_apply_to_a_table_with_only_a_path() {
    let c = AuditConfig::from_value(&json!({"path": "/var/log/agtp/audit.log"})).unwrap();
    assert_eq!(c, AuditConfig::new("/var/log/agtp/audit.log"));
    assert_eq!(c.fsync_period(), Duration::from_secs(1));
}

#[test]
fn unknown_keys_and_a_missing_path_are_refused() {
    let e = AuditConfig::from_value(&json!({"path": "a", "sign": true})).unwrap_err();
    assert!(e.contains("unknown field `sign`"), "{e}");
    let e = AuditConfig::from_value(&json!({})).unwrap_err();
    assert!(e.contains("missing field `path`"), "{e}");
}

#[test]
fn sizes_and_durations_read_as_operators_write_them() {
    let c = AuditConfig::from_value(&json!({
        "path": "a", "max_file_size": "10MiB", "fsync_interval": "250ms",
        "checkpoint_interval": "1m"
    }))
    .unwrap();
    assert_eq!(c.max_file_size, 10 << 20);
    assert_eq!(c.fsync_period(), Duration::from_millis(250));
    assert_eq!(c.checkpoint_interval, Some(Duration::from_secs(60)));
    assert_eq!(parse_byte_size("2 kB"), Ok(2000));
    assert!(parse_byte_size("3 parsecs").is_err());
}

#[test]
fn an_fsync_interval_above_one_second_or_with_another_policy_is_refused() {
    let long = json!({"path": "a", "fsync_interval": "5s"});
    assert!(AuditConfig::from_value(&long).is_err());
    let mixed = json!({"path": "a", "fsync": "always", "fsync_interval": "1s"});
    assert!(AuditConfig::from_value(&mixed).is_err());
}
