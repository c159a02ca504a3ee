//! Settings precedence and validation, with a fake environment and argument list.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use super::Settings;
use crate::error::Error;
use crate::runtime::Runtime;

fn resolve(app: &Runtime, env: &[(&str, &str)], args: &[&str]) -> Result<Settings, Error> {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    Settings::resolve(app, |name| env.get(name).cloned(), args)
}

fn app() -> Runtime {
    Runtime::new("booking").gateway_socket("/builder.sock")
}

#[test]
fn the_builder_supplies_defaults() {
    let s = resolve(&app(), &[], &[]).unwrap();
    assert_eq!(s.gateway_socket, PathBuf::from("/builder.sock"));
    assert_eq!(s.pool, "default");
    assert_eq!(s.connections, 4);
    assert_eq!(
        s.cache_path, None,
        "no HOME and no XDG_CACHE_HOME: memory only"
    );
}

#[test]
fn the_environment_overrides_the_builder_and_the_flag_overrides_both() {
    let env = [
        ("AGTP_GATEWAY_SOCKET", "/env.sock"),
        ("AGTP_POOL", "gpu"),
        ("AGTP_CONNECTIONS", "7"),
        ("AGTP_MANIFEST_CACHE", "/var/cache/m.json"),
    ];
    let app = app().pool("cpu").connections(2).manifest_cache("/b.json");
    let s = resolve(&app, &env, &[]).unwrap();
    assert_eq!(s.gateway_socket, PathBuf::from("/env.sock"));
    assert_eq!(s.pool, "gpu");
    assert_eq!(s.connections, 7);
    assert_eq!(s.cache_path, Some(PathBuf::from("/var/cache/m.json")));

    let s = resolve(&app, &env, &["-v", "--gateway-socket", "/flag.sock", "x"]).unwrap();
    assert_eq!(s.gateway_socket, PathBuf::from("/flag.sock"));
    let s = resolve(&app, &env, &["--gateway-socket=/eq.sock"]).unwrap();
    assert_eq!(s.gateway_socket, PathBuf::from("/eq.sock"));
}

#[test]
fn the_default_cache_file_prefers_xdg_then_home_and_is_file_safe() {
    let app = app().pool("gpu/1");
    let s = resolve(&app, &[("HOME", "/home/u")], &[]).unwrap();
    let home = "/home/u/.cache/mod-rust/booking-gpu_1.manifest.json";
    assert_eq!(s.cache_path, Some(PathBuf::from(home)));
    let env = [("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")];
    let s = resolve(&app, &env, &[]).unwrap();
    let xdg = "/xdg/mod-rust/booking-gpu_1.manifest.json";
    assert_eq!(s.cache_path, Some(PathBuf::from(xdg)));
    let s = resolve(&app, &[("XDG_CACHE_HOME", "relative")], &[]).unwrap();
    assert_eq!(s.cache_path, None, "a relative XDG_CACHE_HOME is ignored");
}

#[test]
fn an_empty_manifest_cache_variable_disables_the_file() {
    let env = [("HOME", "/home/u"), ("AGTP_MANIFEST_CACHE", "")];
    assert_eq!(resolve(&app(), &env, &[]).unwrap().cache_path, None);
    let s = resolve(&app().no_manifest_cache(), &[("HOME", "/h")], &[]).unwrap();
    assert_eq!(s.cache_path, None);
}

#[test]
fn no_socket_anywhere_is_an_error() {
    let err = resolve(&Runtime::new("booking"), &[], &[]).unwrap_err();
    assert!(matches!(err, Error::NoGatewaySocket));
    let err = resolve(&app(), &[], &["--gateway-socket"]).unwrap_err();
    assert!(matches!(
        err,
        Error::Setting {
            name: "--gateway-socket",
            ..
        }
    ));
}

#[test]
fn bad_connection_counts_are_refused_and_named() {
    for bad in ["0", "-1", "many", "5000"] {
        let err = resolve(&app(), &[("AGTP_CONNECTIONS", bad)], &[]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Setting {
                    name: "AGTP_CONNECTIONS",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    let err = resolve(&app().connections(0), &[], &[]).unwrap_err();
    assert!(matches!(
        err,
        Error::Setting {
            name: "Runtime::connections",
            ..
        }
    ));
}

#[test]
fn duplicate_handlers_and_relative_paths_are_refused() {
    async fn h(_ctx: crate::Context) -> crate::Json<()> {
        crate::Json(())
    }
    let twice = app().handler("BOOK", "/a", h).handler("book", "/a", h);
    let err = resolve(&twice, &[], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "setting `Runtime::handler`: `BOOK /a` registered twice"
    );
    let relative = app().handler("BOOK", "a", h);
    assert!(resolve(&relative, &[], &[]).is_err());
}
