use super::*;

#[test]
fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
    let mut headers = Headers::new();
    for (name, value) in [
        ("Agent-ID", "a"),
        ("Connection", "close, X-Private"),
        ("Keep-Alive", "timeout=5"),
        ("X-Private", "secret"),
        ("Proxy-Authorization", "Basic x"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Content-Length", "3"),
        ("Task-ID", "t-1"),
    ] {
        headers.append(name, value);
    }
    let kept = end_to_end(&headers);
    let kept: Vec<(&str, &str)> = kept.iter().collect();
    assert_eq!(kept, [("Agent-ID", "a"), ("Task-ID", "t-1")]);
}

#[test]
fn a_request_that_passed_this_proxy_or_too_many_is_refused_with_508() {
    let mut headers = Headers::new();
    headers.append(VIA, "AGTP/1.0 edge (1a2b), AGTP/1.0 mid (3c4d)");
    let looped = hop_refusal(&headers, "(1a2b)", 8).expect("refused");
    assert_eq!(looped.status, Status::LOOP_DETECTED);
    assert_eq!(looped.body()["error"]["code"], "loop-detected");
    assert!(hop_refusal(&headers, "(ffff)", 3).is_none());
    headers.append(VIA, "AGTP/1.0 third (5e6f)");
    let far = hop_refusal(&headers, "(ffff)", 3).expect("refused");
    assert_eq!(far.body()["error"]["code"], "too-many-hops");
    assert_eq!(far.body()["error"]["hops"], 3);
}
