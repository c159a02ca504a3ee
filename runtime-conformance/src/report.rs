//! What a conformance run found: one [`CheckResult`] per check, rendered for people (the
//! default) or as JSON (`--json`). Every failure carries what was expected and what came.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

/// The checks, in report order: the spec's conformance vectors, then agtpd's extras.
pub(super) const CHECKS: &[(&str, &str, bool)] = &[
    // (id, PROTOCOL.md section, is a spec vector)
    ("handshake", "§6", true),
    ("registration", "§7.1-7.2", true),
    ("request", "§8.1-8.2", true),
    ("declared_error", "§8.2", true),
    ("exception", "§8.3", true),
    ("ping", "§10", true),
    ("reconnect", "§10", true),
    ("unresolvable_registration", "§7.2", true),
    ("messagepack", "§3", false),
    ("resume", "§7.3", false),
    ("deadline", "§8.4", false),
    ("sigterm", "§10", false),
];

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The runtime did what the protocol asks.
    Pass,
    /// It did not; the problems say how.
    Fail,
    /// The check does not apply (an optional feature the runtime does not use).
    Skip,
    /// An earlier failure left nothing to check with (no registered connection).
    NotRun,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
            Status::NotRun => "not run",
        }
    }
}

/// One way the runtime differed from the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What the protocol (or the booking convention) asks for.
    pub expected: String,
    /// What the runtime did instead.
    pub got: String,
}

impl Problem {
    pub(super) fn new(expected: impl Into<String>, got: impl Into<String>) -> Problem {
        Problem {
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Stable identifier (`handshake`, `deadline`, ...).
    pub id: &'static str,
    /// The PROTOCOL.md section the check exercises.
    pub section: &'static str,
    /// Whether this is one of the spec's conformance vectors (else an agtpd extra).
    pub spec_vector: bool,
    /// How it ended.
    pub status: Status,
    /// One line: what was done and seen, or why the check was skipped.
    pub summary: String,
    /// For a failure: each difference, expected against got.
    pub problems: Vec<Problem>,
}

impl CheckResult {
    pub(super) fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Self {
        let (section, spec_vector) = CHECKS
            .iter()
            .find(|(known, _, _)| *known == id)
            .map(|(_, section, vector)| (*section, *vector))
            .unwrap_or(("", false));
        CheckResult {
            id,
            section,
            spec_vector,
            status,
            summary: summary.into(),
            problems: Vec::new(),
        }
    }

    /// A pass, or a failure when `problems` is not empty.
    pub(super) fn judged(
        id: &'static str,
        summary: impl Into<String>,
        problems: Vec<Problem>,
    ) -> Self {
        let status = if problems.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        CheckResult {
            problems,
            ..CheckResult::new(id, status, summary)
        }
    }

    pub(super) fn failed(id: &'static str, summary: impl Into<String>, problem: Problem) -> Self {
        CheckResult::judged(id, summary, vec![problem])
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The runtime command, as given after `--`.
    pub command: Vec<String>,
    /// Which endpoint set was registered.
    pub endpoint_set: String,
    /// Its manifest hash (PROTOCOL.md §7.3).
    pub manifest_hash: String,
    /// One entry per check, in [`CHECKS`] order.
    pub checks: Vec<CheckResult>,
    /// The last lines the runtime printed (stdout and stderr, interleaved).
    pub runtime_output: Vec<String>,
}

impl Report {
    /// Whether no check failed (skipped checks do not fail a run; a check that could not
    /// run always sits behind one that failed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The process exit code: 0 when every check passed or was skipped, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.passed() {
            0
        } else {
            1
        }
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let command: Vec<String> = self
            .command
            .iter()
            .map(
                |arg| match arg.contains(char::is_whitespace) || arg.is_empty() {
                    true => format!("{arg:?}"),
                    false => arg.clone(),
                },
            )
            .collect();
        let _ = writeln!(out, "agtpd conformance: {}", command.join(" "));
        let _ = writeln!(
            out,
            "endpoint set: {} ({})",
            self.endpoint_set, self.manifest_hash
        );
        for (heading, vectors) in [
            ("the spec's conformance vectors", true),
            ("agtpd's extras", false),
        ] {
            let _ = writeln!(out, "\n{heading}:");
            for check in self.checks.iter().filter(|c| c.spec_vector == vectors) {
                let _ = writeln!(
                    out,
                    "  {:<7} {:<26} {:<9} {}",
                    check.status.label(),
                    check.id,
                    check.section,
                    check.summary
                );
                for problem in &check.problems {
                    let _ = writeln!(out, "          expected: {}", problem.expected);
                    let _ = writeln!(out, "          got:      {}", problem.got);
                }
            }
        }
        if !self.passed() && !self.runtime_output.is_empty() {
            let _ = writeln!(
                out,
                "\nthe runtime's output (last {} lines):",
                self.runtime_output.len()
            );
            for line in &self.runtime_output {
                let _ = writeln!(out, "  | {line}");
            }
        }
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} skipped, {} not run: {}",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip),
            self.count(Status::NotRun),
            if self.passed() {
                "the runtime conforms"
            } else {
                "the runtime does not conform"
            }
        );
        out
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "passed": self.passed(),
            "command": self.command,
            "endpoint_set": self.endpoint_set,
            "manifest_hash": self.manifest_hash,
            "counts": {
                "pass": self.count(Status::Pass),
                "fail": self.count(Status::Fail),
                "skip": self.count(Status::Skip),
                "not_run": self.count(Status::NotRun),
            },
            "checks": self.checks,
            "runtime_output": self.runtime_output,
        })
    }
}
