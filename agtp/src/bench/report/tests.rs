use super::*;

#[test]
fn the_report_counts_responses_by_status_and_failures_by_kind() {
    let mut a = Tally::new();
    a.response(Status::OK, Duration::from_micros(100));
    a.response(Status::NOT_FOUND, Duration::from_micros(300));
    a.error(ErrorKind::Connect);
    let mut b = Tally::new();
    b.response(Status::OK, Duration::from_micros(200));
    b.response(Status::UNAVAILABLE, Duration::from_millis(2));
    b.error(ErrorKind::Timeout);
    a.merge(&b);
    let report = Report::new(&a, Duration::from_secs(2));
    assert_eq!(report.requests, 4);
    assert_eq!(report.rps, 2.0);
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(
        json["errors"],
        serde_json::json!({"connect": 1, "tls": 0, "timeout": 1, "protocol": 0,
            "closed": 0, "1xx": 0, "3xx": 0, "4xx": 1, "5xx": 1})
    );
    assert_eq!(
        json["status"],
        serde_json::json!({"200": 2, "404": 1, "503": 1})
    );
    assert_eq!(json["latency_us"]["p50"], 200);
    assert!(json["latency_us"]["max"].as_u64().unwrap_or(0) >= 2000);
}

#[test]
fn an_empty_run_reports_zeros_rather_than_failing() {
    let report = Report::new(&Tally::new(), Duration::ZERO);
    assert_eq!((report.requests, report.rps), (0, 0.0));
    assert!(report.text("nothing").contains("status    none"));
}
