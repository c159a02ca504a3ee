//! `mod-rust` is the Rust handler SDK for agtpd runtime processes, not a pipeline module. It links `runtime-protocol` only.
