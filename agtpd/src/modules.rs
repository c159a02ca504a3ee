//! The table of compiled-in operational modules. This is the only file in agtpd that
//! names module crates; `--load-module NAME` and `[modules] load = [...]` select from it,
//! and each module reads its own `[modules.NAME]` table.

use std::sync::Arc;

use agtp_core::module::{BuildContext, Module, ModuleFactory, Signer};
use serde_json::Value;

use crate::config::{invalid, Config, ConfigError, ModulesConfig};

/// A module's check of an endpoint's handler table (without `type`).
type CheckBinding = fn(&Value) -> Result<(), String>;

/// One compiled-in module: its factory, and a check of its table that has no side
/// effects (`--check-config` must not open the files the module would).
struct Entry {
    factory: &'static dyn ModuleFactory,
    check: fn(&Value, &Config) -> Result<(), String>,
    /// The endpoint handler types (`[endpoint.handler] type`) the module serves, each
    /// with the check of such a handler table (without `type`).
    handlers: &'static [(&'static str, CheckBinding)],
}

static TABLE: &[Entry] = &[
    Entry {
        factory: &mod_audit::FACTORY,
        check: check_audit,
        handlers: &[],
    },
    Entry {
        factory: &mod_cache::FACTORY,
        check: check_cache,
        handlers: &[],
    },
    Entry {
        factory: &mod_proxy::FACTORY,
        check: check_proxy,
        handlers: &[("proxy", mod_proxy::check_binding)],
    },
];

/// Checks an endpoint's handler binding of a type a module serves: that module is in
/// `load`, and it accepts the table. The error says which module to load.
pub(crate) fn check_handler(kind: &str, table: &Value, load: &[String]) -> Result<(), String> {
    let serving = TABLE.iter().find_map(|entry| {
        let (_, check) = entry.handlers.iter().find(|(k, _)| *k == kind)?;
        Some((entry.factory.name(), check))
    });
    let Some((name, check)) = serving else {
        return Err(format!(
            "no compiled-in module serves handler type `{kind}`"
        ));
    };
    if !load.iter().any(|n| n == name) {
        return Err(format!(
            "handler type `{kind}` needs the `{name}` module: add it to `[modules] load` or pass `--load-module {name}`"
        ));
    }
    check(table).map_err(|m| format!("module `{name}`: {m}"))
}

fn check_audit(table: &Value, config: &Config) -> Result<(), String> {
    mod_audit::AuditConfig::from_value(table)?;
    if config.signing.key_file.is_none() {
        return Err("records must be signed: configure `[signing] key_file` for the daemon".into());
    }
    Ok(())
}

fn check_cache(table: &Value, _config: &Config) -> Result<(), String> {
    mod_cache::CacheConfig::from_value(table).map(drop)
}

fn check_proxy(table: &Value, _config: &Config) -> Result<(), String> {
    mod_proxy::ProxyConfig::from_value(table).map(drop)
}

fn entry(name: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.factory.name() == name)
}

/// The names `--load-module` accepts, in the order the README recommends loading them.
pub fn known() -> Vec<&'static str> {
    TABLE.iter().map(|e| e.factory.name()).collect()
}

/// Checks that every name in `names` is a compiled-in module; the error names the first
/// unknown one and lists the known ones.
pub fn check_names(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| entry(n).is_none()) {
        None => Ok(()),
        Some(name) => Err(format!(
            "unknown module `{name}` (known modules: {})",
            known().join(", ")
        )),
    }
}

/// Checks `[modules]` without side effects: the names, that every `[modules.NAME]`
/// table belongs to a compiled-in module, and each loaded module's table.
pub(crate) fn check(config: &Config) -> Result<(), ConfigError> {
    let modules: &ModulesConfig = &config.modules;
    check_names(&modules.load).map_err(|m| invalid("modules.load", m))?;
    if let Some(name) = modules.tables.keys().find(|n| entry(n).is_none()) {
        return Err(invalid(
            "modules",
            format!(
                "`[modules.{name}]`: no module `{name}` is compiled in (known modules: {})",
                known().join(", ")
            ),
        ));
    }
    for name in &modules.load {
        let Some(entry) = entry(name) else { continue };
        (entry.check)(&modules.table(name), config)
            .map_err(|m| invalid("modules", format!("module `{name}`: {m}")))?;
    }
    Ok(())
}

/// Builds the modules `[modules] load` selects, in order. Modules may open files here;
/// the daemon does this before binding any socket, after everything else loaded.
pub fn build(config: &Config) -> Result<Vec<Arc<dyn Module>>, ConfigError> {
    if config.modules.load.is_empty() {
        return Ok(Vec::new());
    }
    let signer = crate::gateway::Signer::load(&config.signing)?;
    let cx = BuildContext {
        server_id: config.server_id.clone(),
        signer: signer.map(|s| Arc::new(s) as Arc<dyn Signer>),
    };
    let mut modules = Vec::new();
    for name in &config.modules.load {
        let Some(entry) = entry(name) else {
            return Err(invalid("modules.load", format!("unknown module `{name}`")));
        };
        let module = entry
            .factory
            .build(&config.modules.table(name), &cx)
            .map_err(|e| invalid("modules", e.to_string()))?;
        modules.push(module);
    }
    Ok(modules)
}
