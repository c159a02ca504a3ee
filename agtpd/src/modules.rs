//! The table of compiled-in operational modules, and `[modules]`. This is the only file in
//! agtpd that names module crates; `--load-module NAME` and `[modules] load = [...]`
//! select from the table, and each module checks and builds from its own
//! `[modules.NAME]` table through its [`ModuleFactory`]. `agtpd audit verify`, the
//! offline half of the audit module, is reached from here too.

use std::collections::BTreeMap;
use std::sync::Arc;

use agtp_core::module::{BuildContext, CheckContext, Module, ModuleFactory, Signer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli::AuditVerifyArgs;
use crate::error::{invalid, ConfigError};
use crate::signing::{Signer as DaemonSigner, SigningConfig};

/// The compiled-in modules, in the order the README recommends loading them.
static TABLE: &[&dyn ModuleFactory] = &[
    &mod_audit::FACTORY,
    &mod_cache::FACTORY,
    &mod_proxy::FACTORY,
];

/// `[modules]`: which compiled-in modules run, in pipeline order, and their settings.
///
/// ```toml
/// [modules]
/// load = ["audit"]
///
/// [modules.audit]
/// path = "/var/log/agtpd/audit.log"
/// ```
/// A table for a module that is not compiled in is refused; each module refuses unknown
/// keys in its own table. `--load-module` replaces `load`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModulesConfig {
    /// The modules to run, in pipeline order (`on_request` order).
    pub load: Vec<String>,
    /// `[modules.NAME]`: each module's own table, checked by the module.
    #[serde(flatten)]
    pub tables: BTreeMap<String, Value>,
}

impl ModulesConfig {
    /// The `[modules.NAME]` table, or an empty one.
    pub fn table(&self, name: &str) -> Value {
        self.tables
            .get(name)
            .cloned()
            .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
    }

    /// Whether a loaded module signs an audit record of every exchange (`audit`), as the
    /// Server Manifest's `assurance` says.
    pub(crate) fn attribution_records(&self) -> bool {
        self.load
            .iter()
            .any(|name| name == mod_audit::FACTORY.name())
    }

    /// Checks `[modules]` without side effects: the names, that every `[modules.NAME]`
    /// table belongs to a compiled-in module, and each loaded module's table. `signing`:
    /// whether the daemon has a signing key.
    pub(crate) fn check(&self, signing: bool) -> Result<(), ConfigError> {
        check_names(&self.load).map_err(|m| invalid("modules.load", m))?;
        if let Some(name) = self.tables.keys().find(|n| factory(n).is_none()) {
            return Err(invalid(
                "modules",
                format!(
                    "`[modules.{name}]`: no module `{name}` is compiled in (known modules: {})",
                    known().join(", ")
                ),
            ));
        }
        let cx = CheckContext { signing };
        for factory in self.load.iter().filter_map(|n| factory(n)) {
            factory
                .check(&self.table(factory.name()), &cx)
                .map_err(|e| invalid("modules", e.to_string()))?;
        }
        Ok(())
    }

    /// Checks an endpoint's handler binding of a type a module serves: that module is
    /// loaded, and it accepts the table. The error says which module to load.
    pub(crate) fn check_handler(&self, kind: &str, table: &Value) -> Result<(), String> {
        let Some(serving) = TABLE.iter().find(|f| f.handler_kinds().contains(&kind)) else {
            return Err(format!(
                "no compiled-in module serves handler type `{kind}`"
            ));
        };
        let name = serving.name();
        if !self.load.iter().any(|n| n == name) {
            return Err(format!(
                "handler type `{kind}` needs the `{name}` module: add it to `[modules] load` or pass `--load-module {name}`"
            ));
        }
        serving
            .check_handler(kind, table)
            .map_err(|e| e.to_string())
    }

    /// Builds the selected modules, in order; `signing` is the daemon's key. Modules may
    /// open files here; the daemon does this before binding any socket, after everything
    /// else loaded.
    pub fn build(
        &self,
        server_id: &str,
        signing: &SigningConfig,
    ) -> Result<Vec<Arc<dyn Module>>, ConfigError> {
        if self.load.is_empty() {
            return Ok(Vec::new());
        }
        let signer = DaemonSigner::load(signing)?;
        let cx = BuildContext {
            server_id: server_id.to_owned(),
            signer: signer.map(|s| Arc::new(s) as Arc<dyn Signer>),
        };
        self.load
            .iter()
            .map(|name| {
                let factory = factory(name)
                    .ok_or_else(|| invalid("modules.load", format!("unknown module `{name}`")))?;
                factory
                    .build(&self.table(name), &cx)
                    .map_err(|e| invalid("modules", e.to_string()))
            })
            .collect()
    }
}

fn factory(name: &str) -> Option<&'static dyn ModuleFactory> {
    TABLE.iter().copied().find(|f| f.name() == name)
}

/// The names `--load-module` accepts, in the order the README recommends loading them.
pub fn known() -> Vec<&'static str> {
    TABLE.iter().map(|f| f.name()).collect()
}

/// Checks that every name in `names` is a compiled-in module; the error names the first
/// unknown one and lists the known ones.
pub fn check_names(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| factory(n).is_none()) {
        None => Ok(()),
        Some(name) => Err(format!(
            "unknown module `{name}` (known modules: {})",
            known().join(", ")
        )),
    }
}

/// `agtpd audit verify`: writes the report to stdout, or the failure to stderr, and
/// returns the exit code (0, 65 a bad log, 66 unreadable input, 64 a bad witness).
pub(crate) fn audit_verify(args: &AuditVerifyArgs) -> u8 {
    let command = mod_audit::VerifyCommand {
        path: &args.path,
        key: &args.key,
        open_tail: args.open_tail,
        witness: args.witness.as_deref(),
        accept_set_aside: args.accept_set_aside,
    };
    command.run(&mut std::io::stdout(), &mut std::io::stderr())
}
