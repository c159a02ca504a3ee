//! The table of compiled-in operational modules. This is the only file in agtpd that
//! names module crates; `--load-module NAME` and `modules = [...]` select from it.

/// The names `--load-module` accepts.
pub fn known() -> Vec<&'static str> {
    // The pipeline lands with the module API; until then no module is compiled in.
    Vec::new()
}

/// Checks that every name in `names` is a compiled-in module; the error names the first
/// unknown one and lists the known ones.
pub fn check_names(names: &[String]) -> Result<(), String> {
    let known = known();
    match names.iter().find(|n| !known.contains(&n.as_str())) {
        None => Ok(()),
        Some(name) if known.is_empty() => Err(format!(
            "unknown module `{name}` (no modules are compiled in)"
        )),
        Some(name) => Err(format!(
            "unknown module `{name}` (known modules: {})",
            known.join(", ")
        )),
    }
}
