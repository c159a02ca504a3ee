use serde_json::json;

use super::*;

#[test]
fn an_empty_table_gives_the_documented_defaults() {
    let config = ProxyConfig::from_value(&json!({})).expect("valid");
    assert_eq!(config.catch_all, None);
    assert_eq!(config.max_hops, 8);
    assert_eq!(config.eject_after, 3);
    assert_eq!(config.eject_for, Duration::from_secs(10));
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert!(!config.force_tls());
}

#[test]
fn catch_all_takes_one_uri_or_a_list() {
    let one = ProxyConfig::from_value(&json!({"catch_all": "agtp://10.0.0.2:4480"}));
    assert_eq!(
        one.expect("valid").catch_all.map(|c| c.to_vec()),
        Some(vec!["agtp://10.0.0.2:4480".to_owned()])
    );
    let many = ProxyConfig::from_value(&json!({"catch_all": ["agtp://a", "agtp://b:1"]}));
    assert_eq!(
        many.expect("valid").catch_all.map(|c| c.to_vec().len()),
        Some(2)
    );
}

#[test]
fn each_bad_value_is_refused_naming_its_key() {
    let cases = [
        (json!({"catch_all": "http://x"}), "`catch_all`: `http://`"),
        (json!({"catch_all": []}), "`catch_all`: name at least one"),
        (
            json!({"catch_all": ["agtp://a", "agtp://a"]}),
            "listed twice",
        ),
        (
            json!({"catch_all": "agtp://a/agents/x"}),
            "name a server only",
        ),
        (json!({"catch_all": 3}), "an upstream URI"),
        (json!({"max_hops": 0}), "`max_hops` must be from 1 to 64"),
        (json!({"max_hops": 65}), "`max_hops` must be from 1 to 64"),
        (
            json!({"eject_after": 0}),
            "`eject_after` must be at least 1",
        ),
        (json!({"timeout": "0s"}), "`timeout` must be more than 0"),
        (
            json!({"eject_for": "2h"}),
            "`eject_for` must be more than 0",
        ),
        (json!({"ca_file": "/nonexistent/ca.pem"}), "`ca_file`:"),
        (json!({"upstream": "agtp://a"}), "unknown field `upstream`"),
    ];
    for (table, expected) in cases {
        let error = ProxyConfig::from_value(&table).expect_err("refused");
        assert!(error.contains(expected), "{table}: {error}");
    }
}
