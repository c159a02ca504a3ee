//! [`CacheFactory`]: builds the module from its `[modules.cache]` table for agtpd's
//! module table. Building opens nothing and starts nothing.

use std::sync::Arc;

use serde_json::Value;

use agtp_core::module::{BuildContext, CheckContext, Module, ModuleError, ModuleFactory};

use crate::config::CacheConfig;
use crate::module::CacheModule;

/// Builds [`CacheModule`]s; selected by `--load-module cache`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheFactory;

/// The factory agtpd lists in its module table.
pub static FACTORY: CacheFactory = CacheFactory;

impl ModuleFactory for CacheFactory {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn check(&self, config: &Value, _cx: &CheckContext) -> Result<(), ModuleError> {
        parse(config).map(drop)
    }

    fn build(&self, config: &Value, _cx: &BuildContext) -> Result<Arc<dyn Module>, ModuleError> {
        let module = CacheModule::new(&parse(config)?)
            .map_err(|e| ModuleError::new(format!("module `cache`: {e}")))?;
        Ok(Arc::new(module))
    }
}

fn parse(config: &Value) -> Result<CacheConfig, ModuleError> {
    CacheConfig::from_value(config).map_err(|e| ModuleError::new(format!("module `cache`: {e}")))
}
