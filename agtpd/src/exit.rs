//! [`ExitStatus`]: what each way the process can end means, as sysexits-style codes.

/// How the process ends, as a sysexits-style code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Served and stopped cleanly (0).
    Clean = 0,
    /// Bad flags (64, EX_USAGE).
    Usage = 64,
    /// Internal failure such as a signal handler that could not be installed (70).
    Software = 70,
    /// A listener could not be bound (71, EX_OSERR).
    Bind = 71,
    /// A log failed verification (65, EX_DATAERR).
    DataErr = 65,
    /// An input file (a log, a key) could not be read (66, EX_NOINPUT).
    NoInput = 66,
    /// `agtpd __runtime-shim` could not execute the runtime command (127, as a shell).
    NotRunnable = 127,
    /// An output file could not be created (73, EX_CANTCREAT).
    CantCreate = 73,
    /// The configuration was refused (78, EX_CONFIG); also `agtpd health` without an
    /// admin address.
    Config = 78,
    /// `agtpd health`: not ready, or nothing answered (1, as Docker's HEALTHCHECK expects).
    Unhealthy = 1,
}
