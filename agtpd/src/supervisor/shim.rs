//! `agtpd __runtime-shim --parent PID -- COMMAND [ARGS...]`: how agtpd starts a supervised
//! runtime so that it never outlives agtpd, even after `kill -9`.
//!
//! The workspace forbids `unsafe_code`, and `CommandExt::pre_exec` (the usual place for
//! `prctl(PR_SET_PDEATHSIG)`) is unsafe. So agtpd runs itself as this shim instead, in the
//! child's process group and environment: the shim sets the parent-death signal (SIGKILL)
//! with nix's safe `prctl`, checks that its parent is still the agtpd that started it (a
//! parent that died before the `prctl` would otherwise go unnoticed), then `execvp`s the
//! runtime. The signal survives `exec`, and the runtime keeps the shim's pid, which is the
//! pid agtpd spawned and the gateway sees. Cost: one extra `exec` per start.
//!
//! Linux sends the signal when the *thread* that forked the child exits. agtpd spawns
//! runtimes from tokio worker threads, which live as long as the process (agtpd never uses
//! `block_in_place`, which could retire a worker).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{execvp, getppid};

use crate::cli::ShimArgs;
use crate::ExitStatus;

/// Runs the shim; returns only when the runtime could not be started.
pub fn runtime_shim(args: &ShimArgs) -> ExitStatus {
    if let Err(error) = prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("agtpd runtime shim: cannot set the parent-death signal: {error}");
        return ExitStatus::Software;
    }
    // Order matters: checked after `prctl`, so a parent that died before it is seen here.
    if getppid().as_raw() != args.parent {
        eprintln!(
            "agtpd runtime shim: agtpd (pid {}) is gone; not starting",
            args.parent
        );
        return ExitStatus::Software;
    }
    let argv: Result<Vec<CString>, _> = args
        .command
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect();
    let Ok(argv) = argv else {
        eprintln!("agtpd runtime shim: an argument contains a NUL byte");
        return ExitStatus::Usage;
    };
    let Some(program) = argv.first() else {
        eprintln!("agtpd runtime shim: no command");
        return ExitStatus::Usage;
    };
    match execvp(program, &argv) {
        Err(error) => {
            eprintln!("agtpd: cannot run `{}`: {error}", program.to_string_lossy());
            ExitStatus::NotRunnable
        }
        Ok(never) => match never {},
    }
}
