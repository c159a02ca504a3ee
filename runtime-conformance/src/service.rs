//! The endpoint set a conformance run registers: the booking sample's, compiled in (the same
//! files as `samples/booking/endpoints`), or a directory given with `--endpoints`. Loaded with
//! the daemon's own endpoint loader and `register` builder (`agtp-site`), so the frame and
//! the output checks are the daemon's.

use std::path::Path;

use runtime_protocol::{EndpointSpec, Register};
use serde_json::json;

use agtp_site::catalog::Catalog;
use agtp_site::endpoints::{Endpoint, EndpointTable};

/// The booking sample's endpoint files, by name.
const BOOKING_ENDPOINTS: &[(&str, &str)] = &[
    (
        "book_room.toml",
        include_str!("../../samples/booking/endpoints/book_room.toml"),
    ),
    (
        "cancel_booking.toml",
        include_str!("../../samples/booking/endpoints/cancel_booking.toml"),
    ),
    (
        "fetch_booking.toml",
        include_str!("../../samples/booking/endpoints/fetch_booking.toml"),
    ),
    (
        "query_availability.toml",
        include_str!("../../samples/booking/endpoints/query_availability.toml"),
    ),
    (
        "query_occupancy_outlook.toml",
        include_str!("../../samples/booking/endpoints/query_occupancy_outlook.toml"),
    ),
];

/// The endpoint the `unresolvable_registration` check adds: no runtime has its handler.
pub(super) const UNRESOLVABLE_METHOD: &str = "QUERY";
/// Its path.
pub(super) const UNRESOLVABLE_PATH: &str = "/conformance/unresolvable";
/// Its handler reference.
pub(super) const UNRESOLVABLE_HANDLER: &str = "conformance.no_such_handler";

/// The registered endpoints and their `register` frame.
pub(super) struct ServiceSet {
    /// Where the endpoints came from, for the report.
    pub(super) source: String,
    table: EndpointTable,
    /// What every connection is registered with (all endpoints, one pool).
    pub(super) register: Register,
}

impl ServiceSet {
    /// The endpoints of `dir`, or the compiled-in booking set (written under `scratch` and
    /// loaded from there).
    pub(super) fn load(dir: Option<&Path>, scratch: &Path) -> Result<ServiceSet, String> {
        let (dir, source) = match dir {
            Some(dir) => (dir.to_owned(), format!("`{}`", dir.display())),
            None => {
                let dir = scratch.join("endpoints");
                std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                for (name, text) in BOOKING_ENDPOINTS {
                    let file = dir.join(name);
                    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
                }
                (dir, "the booking sample's endpoints (built in)".to_owned())
            }
        };
        let table =
            EndpointTable::load_dir(&dir, &Catalog::embedded()).map_err(|e| e.to_string())?;
        if !table.needs_runtimes() {
            return Err(format!(
                "endpoint directory `{}` declares no endpoint a runtime serves",
                dir.display()
            ));
        }
        let register = agtp_site::register::registration(table.iter());
        Ok(ServiceSet {
            source: format!("{source}, {} endpoints", table.len()),
            table,
            register,
        })
    }

    /// The endpoint declared as `method path` (path as in its file, `{params}` included).
    pub(super) fn endpoint(&self, method: &str, path: &str) -> Option<&Endpoint> {
        self.table
            .iter()
            .find(|e| e.method() == method && e.path() == path)
    }

    /// The registration plus one endpoint whose handler no runtime has.
    pub(super) fn with_unresolvable(&self) -> Register {
        let mut endpoints = self.register.endpoints.clone();
        let mut schemas = self.register.schemas.clone();
        schemas.insert(
            "conformance.unresolvable".to_owned(),
            json!({"type": "object"}),
        );
        endpoints.push(EndpointSpec {
            method: UNRESOLVABLE_METHOD.to_owned(),
            path: UNRESOLVABLE_PATH.to_owned(),
            handler_reference: UNRESOLVABLE_HANDLER.to_owned(),
            input_schema_ref: "#/schemas/conformance.unresolvable".to_owned(),
            output_schema_ref: "#/schemas/conformance.unresolvable".to_owned(),
            errors: Vec::new(),
            required_scopes: Vec::new(),
        });
        Register::new(endpoints, schemas)
    }
}
