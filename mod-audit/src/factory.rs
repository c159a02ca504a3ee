//! [`AuditFactory`]: checks and builds the module from its `[modules.audit]` table for
//! agtpd's module table. Signing is mandatory: without the daemon's signing key the check
//! (and so the build) fails.

use std::sync::Arc;

use serde_json::Value;

use agtp_core::module::{BuildContext, CheckContext, Module, ModuleError, ModuleFactory};

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

    fn check(&self, config: &Value, cx: &CheckContext) -> Result<(), ModuleError> {
        AuditConfig::from_value(config).map_err(err)?;
        if !cx.signing {
            return Err(err(
                "records must be signed: configure `[signing] key_file` for the daemon".into(),
            ));
        }
        Ok(())
    }

    fn build(&self, config: &Value, cx: &BuildContext) -> Result<Arc<dyn Module>, ModuleError> {
        self.check(config, &cx.check_context())?;
        let config = AuditConfig::from_value(config).map_err(err)?;
        let Some(signer) = cx.signer.clone() else {
            return Err(err("the daemon has no signing key".into()));
        };
        let module =
            AuditModule::open(config, signer, &cx.server_id).map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(module))
    }
}

fn err(message: String) -> ModuleError {
    ModuleError::new(format!("module `audit`: {message}"))
}
