//! Rotation by size and by reopen (logrotate + SIGHUP): the chain continues across files.

use crate::common::*;
use agtp_core::module::Module;
use mod_audit::{chain_files, verify, verify_with, Problem, VerifyOptions};

#[tokio::test]
async fn rotation_by_size_keeps_the_chain_verifiable_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_file_size = 4096;
    c.checkpoint_every = 5;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 40).await;
    drop(module);
    let files = chain_files(&path).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(files.last(), Some(&path));
    for file in &files[..files.len() - 1] {
        let l = lines(file);
        assert_eq!(parse(l.last().unwrap())["reason"], "rotate");
        // Only the closing checkpoint may take a file past the limit.
        let size: usize = l[..l.len() - 1].iter().map(|x| x.len() + 1).sum();
        assert!(size <= 4096, "{} is {size} bytes", file.display());
    }
    for file in &files[1..] {
        assert!(lines(file)[0].contains("\"file_start\""));
    }
    let report = verify(&files, &public_key()).unwrap();
    assert_eq!(report.n_records, 40);
    assert!(report.sealed);
}

#[tokio::test]
async fn a_missing_middle_or_newest_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_file_size = 4096;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 30).await;
    drop(module);
    let files = chain_files(&path).unwrap();
    assert!(files.len() >= 3);
    let without_middle = [files[0].clone(), files[2].clone()];
    let err = verify(&without_middle, &public_key()).unwrap_err();
    assert!(
        matches!(err.problem(), Some(Problem::SeqMismatch { .. })),
        "{err}"
    );
    assert_eq!(err.location().unwrap().file, files[2]);
    let archived = &files[..files.len() - 1];
    let err = verify(archived, &public_key()).unwrap_err();
    assert!(
        matches!(err.problem(), Some(Problem::Truncated(_))),
        "{err}"
    );
    let open_tail = VerifyOptions {
        allow_open_tail: true,
        ..VerifyOptions::default()
    };
    assert!(
        verify_with(archived, &public_key(), &open_tail)
            .unwrap()
            .sealed
    );
    // Starting from a later file resumes from its file_start frontier.
    let report = verify(&files[1..], &public_key()).unwrap();
    assert!(!report.starts_at_genesis());
}

#[tokio::test]
async fn reopen_after_logrotate_renamed_the_file_continues_the_chain_in_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 3).await;
    module.flush().await;
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    // Written between logrotate's rename and the SIGHUP: lands in the renamed file.
    ok_exchanges(&module, 1).await;
    module.flush().await;
    module.reopen();
    ok_exchanges(&module, 2).await;
    drop(module);
    let old = lines(&rotated);
    assert_eq!(old.len(), 5);
    assert_eq!(parse(&old[4])["reason"], "reopen");
    let new = lines(&path);
    assert_eq!(parse(&new[0])["seq"], 5);
    assert!(new[0].contains("\"file_start\""));
    assert_eq!(
        chain_files(&path).unwrap(),
        vec![rotated.clone(), path.clone()]
    );
    let report = verify(&[rotated, path], &public_key()).unwrap();
    assert_eq!((report.n_records, report.n_checkpoints), (6, 2));
}

#[tokio::test]
async fn reopen_without_a_rename_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 2).await;
    module.reopen();
    ok_exchanges(&module, 2).await;
    drop(module);
    let report = verify(std::slice::from_ref(&path), &public_key()).unwrap();
    assert_eq!((report.n_records, report.n_checkpoints), (4, 1));
    assert_eq!(chain_files(&path).unwrap(), vec![path]);
}
