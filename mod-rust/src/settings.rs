//! Resolving a [`Runtime`]'s settings against the command line and the environment, once, at
//! the start of `serve`. Precedence, lowest to highest: the builder, the environment, the
//! command line. Everything is validated here, before any socket is opened.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::Error;
use crate::runtime::{CacheSetting, Runtime};

/// The flag naming the daemon's socket.
const SOCKET_FLAG: &str = "--gateway-socket";
/// Upper bound on `connections`, to catch typos before they open thousands of sockets.
const MAX_CONNECTIONS: usize = 1024;

/// A runtime's settings after the command line and the environment had their say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) gateway_socket: PathBuf,
    pub(crate) pool: String,
    pub(crate) connections: usize,
    /// `None`: the manifest cache lives in memory only.
    pub(crate) cache_path: Option<PathBuf>,
}

impl Settings {
    /// Resolves against this process's arguments and environment.
    pub(crate) fn from_process(app: &Runtime) -> Result<Settings, Error> {
        Settings::resolve(
            app,
            |name| std::env::var_os(name),
            std::env::args_os().skip(1),
        )
    }

    /// Resolves against `env` (a variable lookup) and `args` (without the program name).
    pub(crate) fn resolve(
        app: &Runtime,
        env: impl Fn(&str) -> Option<OsString>,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Settings, Error> {
        // An empty variable counts as unset, except AGTP_MANIFEST_CACHE (empty: no file).
        let var = |name: &str| env(name).filter(|v| !v.is_empty());

        if app.module.is_empty() {
            return Err(setting("Runtime::new", "the module name is empty"));
        }
        if let Some(name) = app.duplicates.first() {
            return Err(setting(
                "Runtime::handler",
                format!("`{name}` registered twice"),
            ));
        }
        if let Some((_, path)) = app.handlers.keys().find(|(_, p)| !p.starts_with('/')) {
            return Err(setting(
                "Runtime::handler",
                format!("path `{path}` does not start with `/`"),
            ));
        }

        let gateway_socket = match socket_flag(args)? {
            Some(path) => path,
            None => var("AGTP_GATEWAY_SOCKET")
                .map(PathBuf::from)
                .or_else(|| app.gateway_socket.clone())
                .ok_or(Error::NoGatewaySocket)?,
        };

        let pool = match var("AGTP_POOL") {
            Some(pool) => pool
                .into_string()
                .map_err(|_| setting("AGTP_POOL", "not valid UTF-8"))?,
            None => app.pool.clone(),
        };
        if pool.is_empty() {
            return Err(setting("Runtime::pool", "the pool name is empty"));
        }

        let (connections, source) = match var("AGTP_CONNECTIONS") {
            Some(text) => {
                let n = text.to_str().and_then(|t| t.trim().parse::<usize>().ok());
                (n.unwrap_or(0), "AGTP_CONNECTIONS")
            }
            None => (app.connections, "Runtime::connections"),
        };
        if !(1..=MAX_CONNECTIONS).contains(&connections) {
            let reason = format!("expected a whole number from 1 to {MAX_CONNECTIONS}");
            return Err(setting(source, reason));
        }

        let cache_path = match env("AGTP_MANIFEST_CACHE") {
            Some(path) if path.is_empty() => None,
            Some(path) => Some(PathBuf::from(path)),
            None => match &app.manifest_cache {
                CacheSetting::Path(path) => Some(path.clone()),
                CacheSetting::Disabled => None,
                CacheSetting::Default => default_cache_path(&env, &app.module, &pool),
            },
        };

        Ok(Settings {
            gateway_socket,
            pool,
            connections,
            cache_path,
        })
    }
}

/// `--gateway-socket PATH` or `--gateway-socket=PATH`; other arguments belong to the program.
fn socket_flag(args: impl IntoIterator<Item = OsString>) -> Result<Option<PathBuf>, Error> {
    let mut args = args.into_iter();
    let mut found = None;
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == SOCKET_FLAG {
            let value = args.next().filter(|v| !v.is_empty());
            let value = value.ok_or_else(|| setting(SOCKET_FLAG, "expects a path"))?;
            found = Some(PathBuf::from(value));
        } else if let Some(value) = text.strip_prefix("--gateway-socket=") {
            if value.is_empty() {
                return Err(setting(SOCKET_FLAG, "expects a path"));
            }
            found = Some(PathBuf::from(value));
        }
    }
    Ok(found)
}

/// `$XDG_CACHE_HOME/mod-rust/<module>-<pool>.manifest.json`, else the same under
/// `$HOME/.cache`, else none: a shared directory such as `/tmp` would let another local user
/// plant the file.
fn default_cache_path(
    env: &impl Fn(&str) -> Option<OsString>,
    module: &str,
    pool: &str,
) -> Option<PathBuf> {
    let absolute = |value: OsString| Some(PathBuf::from(value)).filter(|p| p.is_absolute());
    let base = env("XDG_CACHE_HOME").and_then(absolute).or_else(|| {
        env("HOME")
            .and_then(absolute)
            .map(|home| home.join(".cache"))
    })?;
    let name = format!("{}-{}.manifest.json", file_safe(module), file_safe(pool));
    Some(base.join("mod-rust").join(name))
}

fn file_safe(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    text.chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect()
}

fn setting(name: &'static str, reason: impl Into<String>) -> Error {
    Error::Setting {
        name,
        reason: reason.into(),
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
