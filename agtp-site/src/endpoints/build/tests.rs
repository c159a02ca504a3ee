//! `type = "proxy"` bindings: the table reaches the module as JSON, the manifest hides
//! the upstreams, and such endpoints need no runtime. The module's own checks of the
//! table run at site load (`agtpd/tests/it/proxy`).

use serde_json::json;

use super::super::tests::{endpoint_toml, parse};
use super::super::*;

/// A valid endpoint file whose handler table is `handler` (the lines after `type`).
fn proxy_file(handler: &str) -> String {
    endpoint_toml("FETCH", "/things", "", "").replace(
        "type = \"registered_function\"\nfunction = \"tests.handler\"",
        &format!("type = \"proxy\"\n{handler}"),
    )
}

#[test]
fn a_proxy_binding_hands_its_table_to_the_module_and_hides_it_from_the_manifest() {
    let endpoint = parse(&proxy_file(
        "upstreams = [\"agtp://127.0.0.1:4481\", \"agtp://[::1]:4482\"]\ntimeout = \"2s\"",
    ))
    .unwrap_or_else(|e| panic!("loads: {e}"));
    assert_eq!(endpoint.handler().kind(), "proxy");
    assert_eq!(
        endpoint.handler().module_config(),
        json!({"upstreams": ["agtp://127.0.0.1:4481", "agtp://[::1]:4482"], "timeout": "2s"})
    );
    assert_eq!(
        endpoint.manifest_entry()["handler"],
        json!({"type": "proxy"})
    );
}

#[test]
fn only_registered_functions_make_the_table_need_runtimes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: String| {
        std::fs::write(dir.path().join(name), text).expect("write");
        EndpointTable::load_dir(dir.path(), &crate::catalog::Catalog::embedded())
            .unwrap_or_else(|e| panic!("loads: {e}"))
    };
    let proxied = write(
        "proxied.toml",
        proxy_file("upstream = \"agtp://127.0.0.1:4481\""),
    );
    assert!(!proxied.needs_runtimes());
    let both = write("local.toml", endpoint_toml("QUERY", "/local", "", ""));
    assert!(both.needs_runtimes());
}
