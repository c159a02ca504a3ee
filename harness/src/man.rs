//! Man pages against `--help`: every `--long` flag a command's help names is documented
//! in that command's page, for each binary that renders its pages with `__man-pages DIR`.

use std::path::Path;
use std::process::Command;

/// Runs `binary args...` and returns its stdout, failing the test on a non-zero exit.
pub fn stdout_of(binary: &str, args: &[&str]) -> String {
    let output = Command::new(binary)
        .args(args)
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{binary} {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// The `--long` flags a `--help` text names.
fn long_flags(help: &str) -> Vec<String> {
    let mut flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            let end = word.find(['=', '<', '.', ')']).unwrap_or(word.len());
            word[..end].to_owned()
        })
        .filter(|flag| flag.len() > 2)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// Renders `binary`'s pages into a temp dir, checks that `expected` are among them and
/// that each page documents every flag of its command's `--help`; returns the page names.
/// A page `NAME-SUB-SUB.1` documents `NAME SUB SUB`.
pub fn check_pages(binary: &str, expected: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    stdout_of(
        binary,
        &["__man-pages", dir.path().to_str().expect("utf-8 path")],
    );
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read the pages")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    pages.sort();
    for name in expected {
        assert!(pages.iter().any(|p| p == name), "no {name} in {pages:?}");
    }
    for name in &pages {
        let words: Vec<&str> = name.trim_end_matches(".1").split('-').collect();
        let help = stdout_of(binary, &[&words[1..], &["--help"]].concat());
        let text = page(dir.path(), name);
        assert!(text.starts_with(".ie"), "{name} is not a roff page");
        let flags = long_flags(&help);
        assert!(flags.contains(&"--help".to_owned()), "{name}: {flags:?}");
        for flag in flags {
            assert!(text.contains(&flag), "{name} does not document {flag}");
        }
    }
    pages
}

/// A man page's text with roff's escaped hyphens made plain.
fn page(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .replace("\\-", "-")
}
