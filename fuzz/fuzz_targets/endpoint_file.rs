//! The endpoint-file loader: any text is an endpoint or a located load error, never a
//! panic; an endpoint that loads describes itself for the manifest.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use agtp_site::catalog::Catalog;
use agtp_site::endpoints::Endpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    let catalog = CATALOG.get_or_init(Catalog::embedded);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(endpoint) = Endpoint::from_toml_str(text, Path::new("fuzz.toml"), catalog) {
        let _ = endpoint.manifest_entry();
        let _ = endpoint.summary();
    }
});
