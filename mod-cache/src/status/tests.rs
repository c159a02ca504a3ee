use super::*;

#[test]
fn every_outcome_renders_as_one_rfc_9211_member() {
    let cases = [
        (CacheStatus::Hit { ttl: 42 }, "agtpd; hit; ttl=42"),
        (
            CacheStatus::Collapsed { ttl: 7 },
            "agtpd; fwd=miss; collapsed; ttl=7",
        ),
        (
            CacheStatus::Stored {
                fwd_status: 200,
                ttl: 300,
            },
            "agtpd; fwd=miss; fwd-status=200; stored; ttl=300",
        ),
        (
            CacheStatus::Forwarded {
                fwd_status: 422,
                why: None,
            },
            "agtpd; fwd=miss; fwd-status=422",
        ),
        (
            CacheStatus::Forwarded {
                fwd_status: 200,
                why: Some(NotStored::TooLarge),
            },
            "agtpd; fwd=miss; fwd-status=200; detail=too-large",
        ),
        (CacheStatus::Bypass, "agtpd; fwd=bypass"),
        (CacheStatus::Disabled, "agtpd; fwd=bypass; detail=disabled"),
    ];
    for (status, text) in cases {
        assert_eq!(status.to_string(), text);
    }
}
