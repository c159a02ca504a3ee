use serde_json::json;

use super::*;

#[test]
fn one_upstream_or_a_list_with_default_timeouts() {
    let one = Binding::from_value(&json!({"upstream": "agtp://127.0.0.1:4481"}));
    assert_eq!(
        one,
        Ok(Binding {
            upstreams: vec!["agtp://127.0.0.1:4481".into()],
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        })
    );
    let many = Binding::from_value(&json!({
        "upstreams": ["agtp://a:1", "agtp://[::1]:2"], "connect_timeout": "250ms", "timeout": "2s"
    }))
    .expect("valid");
    assert_eq!(many.upstreams.len(), 2);
    assert_eq!(many.connect_timeout, Duration::from_millis(250));
    assert_eq!(many.timeout, Duration::from_secs(2));
}

#[test]
fn each_malformed_binding_is_refused_with_its_reason() {
    let too_many: Vec<String> = (1..=65).map(|p| format!("agtp://127.0.0.1:{p}")).collect();
    let cases = [
        (json!({}), "a proxy needs `upstream"),
        (json!({"upstreams": []}), "name at least one upstream"),
        (
            json!({"upstream": "agtp://a", "upstreams": ["agtp://b"]}),
            "not both",
        ),
        (
            json!({"upstream": "http://origin:80"}),
            "`http://`: not an AGTP URI scheme",
        ),
        (json!({"upstream": "origin:4480"}), "not an AGTP URI"),
        (
            json!({"upstream": "agtp://origin:99999"}),
            "the port must be a number",
        ),
        (
            json!({"upstream": "agtp://o/agents/booking"}),
            "name a server only",
        ),
        (json!({"upstream": "agtp://o?x=1"}), "name a server only"),
        (
            json!({"upstreams": ["agtp://a:1", "agtp://a:1"]}),
            "`agtp://a:1` is listed twice",
        ),
        (json!({"upstreams": too_many}), "65 upstreams; at most 64"),
        (
            json!({"upstream": "agtp://a", "timeout": "0s"}),
            "`handler.timeout` must be more than 0",
        ),
        (
            json!({"upstream": "agtp://a", "connect_timeout": "2h"}),
            "`handler.connect_timeout`",
        ),
        (
            json!({"upstream": "agtp://a", "url": "agtp://b"}),
            "unknown field `url`",
        ),
    ];
    for (table, expected) in cases {
        let error = Binding::from_value(&table).expect_err("refused");
        assert!(error.contains(expected), "{table}: {error}");
    }
}
