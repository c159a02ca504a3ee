//! A reload applies every key but the restart-only ones, which each section pins to its
//! running value: one key of every class, changed at once.

use std::time::Duration;

use agtpd::config::Config;
use agtpd_harness::TestDaemon;

#[tokio::test]
async fn a_reload_keeps_every_restart_only_key_and_applies_the_rest() {
    let server = TestDaemon::start(Config::default()).await;
    let daemon = server.daemon();
    let running = daemon.config();
    let mut new = running.clone();
    // Restart-only, one per section that pins keys.
    new.listen = vec!["127.0.0.1:1".parse().unwrap()];
    new.max_connections = running.max_connections + 1;
    new.log_level = "debug".into();
    new.gateway_socket = "/tmp/elsewhere.sock".into();
    new.modules.load = vec!["cache".into()];
    new.gateway.tcp_listen = Some("127.0.0.1:2".parse().unwrap());
    new.admin.listen = Some("127.0.0.1:3".parse().unwrap());
    // Reloadable.
    new.server_id = "reloaded".into();
    new.limits.max_body = running.limits.max_body / 2;
    new.timeouts.idle = Duration::from_secs(7);
    new.gateway.queue_length = running.gateway.queue_length + 1;

    daemon.reload(&new).unwrap();
    let effective = daemon.config();
    assert_eq!(effective.listen, running.listen);
    assert_eq!(effective.max_connections, running.max_connections);
    assert_eq!(effective.log_level, running.log_level);
    assert_eq!(effective.gateway_socket, running.gateway_socket);
    assert_eq!(effective.modules, running.modules);
    assert_eq!(effective.gateway.tcp_listen, running.gateway.tcp_listen);
    assert_eq!(effective.admin.listen, running.admin.listen);
    assert_eq!(effective.server_id, "reloaded");
    assert_eq!(effective.limits.max_body, new.limits.max_body);
    assert_eq!(effective.timeouts.idle, Duration::from_secs(7));
    assert_eq!(effective.gateway.queue_length, new.gateway.queue_length);

    // New connections see the new settings.
    let response = server
        .client()
        .await
        .exchange("AGTP/1.0 DISCOVER /methods\r\n\r\n")
        .await;
    assert_eq!(response.headers.get("Server-ID"), Some("reloaded"));
}
