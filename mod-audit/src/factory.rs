//! [`AuditFactory`]: builds the module from its `[modules.audit]` table for agtpd's module
//! table. Signing is mandatory: without `BuildContext::signer` the build fails.

use std::sync::Arc;

use serde_json::Value;

use agtp_core::module::{BuildContext, Module, ModuleError, ModuleFactory};

use crate::config::AuditConfig;
use crate::module::AuditModule;

/// Builds [`AuditModule`]s; selected by `--load-module audit`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditFactory;

/// The factory agtpd lists in its module table.
pub static FACTORY: AuditFactory = AuditFactory;

impl ModuleFactory for AuditFactory {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn build(&self, config: &Value, cx: &BuildContext) -> Result<Arc<dyn Module>, ModuleError> {
        let err = |e: String| ModuleError::new(format!("module `audit`: {e}"));
        let config = AuditConfig::from_value(config).map_err(err)?;
        let signer = cx.signer.clone().ok_or_else(|| {
            err("records must be signed: configure `[signing] key_file` for the daemon".into())
        })?;
        let module =
            AuditModule::open(config, signer, &cx.server_id).map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(module))
    }
}
