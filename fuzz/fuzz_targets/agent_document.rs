//! The agent-document loader: any JSON is an agent (after v1 migration and schema
//! validation) or a problem naming where, never a panic.
#![no_main]

use agtp_site::agents::from_document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(agent) = from_document(document) {
        let _ = agent.method_permitted("QUERY");
        let _ = agent.principal_id();
    }
});
