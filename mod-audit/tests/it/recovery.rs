//! Start-up over an existing log: clean continuation, crashes, torn lines, key changes.

use std::io::Write;

use sha2::Digest as _;

use crate::common::*;
use mod_audit::{chain_files, set_aside_files, verify, verify_with, Problem, VerifyOptions};

fn open_tail() -> VerifyOptions {
    VerifyOptions {
        allow_open_tail: true,
        ..VerifyOptions::default()
    }
}

fn accept_set_aside() -> VerifyOptions {
    VerifyOptions {
        accept_set_aside: true,
        ..VerifyOptions::default()
    }
}

#[tokio::test]
async fn a_restart_after_a_clean_shutdown_continues_the_chain_without_markers() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 3, 100).await;
    let module = open(config(dir.path()));
    ok_exchanges(&module, 3).await;
    drop(module);
    let report = verify(std::slice::from_ref(&path), &public_key()).unwrap();
    assert_eq!((report.n_records, report.n_checkpoints), (6, 2));
    assert!(report.recoveries.is_empty());
    let l = lines(&path);
    assert!(!l[4].contains("file_start"), "same file, no new file_start");
}

#[tokio::test]
async fn a_crashed_run_leaves_an_unsealed_tail_that_only_open_tail_verification_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.checkpoint_every = 2;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 3).await;
    module.flush().await;
    // A crash: the writer never gets to write its shutdown checkpoint.
    std::mem::forget(module);
    let err = verify(std::slice::from_ref(&path), &public_key()).unwrap_err();
    assert!(
        matches!(err.problem(), Some(Problem::Truncated(_))),
        "{err}"
    );
    let report = verify_with(&[path], &public_key(), &open_tail()).unwrap();
    assert!(!report.sealed);
    assert_eq!(report.unsealed_entries, 1);
    assert_eq!(report.n_records, 3);
}

#[tokio::test]
async fn a_restart_after_a_crash_marks_an_unclean_shutdown_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path()).path;
    let module = open(config(dir.path()));
    ok_exchanges(&module, 2).await;
    module.flush().await;
    std::mem::forget(module);
    let module = open(config(dir.path()));
    ok_exchanges(&module, 1).await;
    drop(module);
    let report = verify(std::slice::from_ref(&path), &public_key()).unwrap();
    assert_eq!(report.recoveries.len(), 1);
    assert_eq!(report.recoveries[0].at.line, 3);
    assert_eq!(report.recoveries[0].torn_bytes, None);
    assert!(lines(&path)[2].contains(r#""recovery":{"after":"unclean_shutdown"}"#));
}

#[tokio::test]
async fn a_torn_last_line_is_recovered_on_restart_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path()).path;
    let module = open(config(dir.path()));
    ok_exchanges(&module, 3).await;
    module.flush().await;
    std::mem::forget(module);
    // The crash happened in the middle of appending a fourth line.
    let fourth = lines(&path)[1].clone();
    let torn = &fourth[..fourth.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn.as_bytes())
        .unwrap();
    // Before the restart, only an open-tail verification accepts it, and says where.
    let report = verify_with(std::slice::from_ref(&path), &public_key(), &open_tail()).unwrap();
    assert_eq!(report.torn_tail.map(|at| at.line), Some(4));
    assert!(verify(std::slice::from_ref(&path), &public_key()).is_err());

    let module = open(config(dir.path()));
    ok_exchanges(&module, 2).await;
    drop(module);
    let l = lines(&path);
    assert_eq!(l[3], torn, "the torn bytes stay in place");
    let marker = parse(&l[4]);
    assert_eq!(marker["seq"], 3, "the torn line never counted");
    assert_eq!(marker["recovery"]["after"], "torn_line");
    assert_eq!(marker["recovery"]["torn_bytes"], torn.len());
    let report = verify(std::slice::from_ref(&path), &public_key()).unwrap();
    assert_eq!(report.n_records, 5);
    assert_eq!(report.recoveries.len(), 1);
    assert_eq!(report.recoveries[0].torn_bytes, Some(torn.len() as u64));

    // The torn bytes are bound by the signed marker: changing them is tampering.
    let mut l = l;
    l[3] = l[3].replacen('a', "b", 1);
    write_lines(&path, &l);
    let err = verify(&[path], &public_key()).unwrap_err();
    assert_eq!(err.location().map(|at| at.line), Some(4));
    assert_eq!(err.problem(), Some(&Problem::TornMarkerMismatch));
}

#[tokio::test]
async fn a_torn_first_line_starts_the_chain_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path()).path;
    std::fs::write(&path, b"{\"v\":1,\"kind\":\"rec").unwrap();
    let module = open(config(dir.path()));
    ok_exchanges(&module, 1).await;
    drop(module);
    let report = verify(&[path], &public_key()).unwrap();
    assert_eq!(report.first_seq, 0);
    assert_eq!(report.recoveries[0].torn_bytes, Some(18));
}

#[tokio::test]
async fn a_key_change_sets_the_old_file_aside_and_starts_a_new_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 2, 100).await;
    let module = mod_audit::AuditModule::open(
        config(dir.path()),
        TestSigner::new(3, "next-key"),
        "srv-test",
    )
    .unwrap();
    ok_exchanges(&module, 1).await;
    drop(module);
    let set_aside = set_aside_files(&path).unwrap();
    assert_eq!(set_aside.len(), 1);
    assert!(verify(&set_aside, &public_key()).is_ok());
    let next_key = TestSigner::new(3, "next-key");
    use agtp_core::module::Signer as _;
    let err = verify(std::slice::from_ref(&path), &next_key.public_key()).unwrap_err();
    assert!(
        matches!(err.problem(), Some(Problem::SetAside(why)) if why.contains("key id")),
        "{err}"
    );
    let report = verify_with(
        std::slice::from_ref(&path),
        &next_key.public_key(),
        &accept_set_aside(),
    )
    .unwrap();
    assert_eq!(report.n_records, 1);
    let start = report.new_chain.unwrap();
    assert_eq!(
        Some(dir.path().join(start.set_aside.unwrap())),
        set_aside.first().cloned()
    );
    assert_eq!(chain_files(&path).unwrap(), vec![path]);
}

#[tokio::test]
async fn a_deleted_line_sets_the_log_aside_and_the_new_chain_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 4, 100).await;
    let mut l = lines(&path);
    l.remove(2);
    write_lines(&path, &l);
    let cut = std::fs::read(&path).unwrap();
    let module = open(config(dir.path()));
    drop(module);

    let set_aside = set_aside_files(&path).unwrap();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(std::fs::read(&set_aside[0]).unwrap(), cut, "never modified");
    let first = parse(&lines(&path)[0]);
    assert_eq!(
        first["reason"], "start",
        "written at once, before any record"
    );
    let marker = &first["recovery"];
    assert_eq!(marker["after"], "set_aside");
    assert_eq!(marker["bytes"], cut.len() as u64);
    assert_eq!(marker["sha256"], hex(&sha2::Sha256::digest(&cut)));
    assert!(marker["reason"]
        .as_str()
        .unwrap()
        .contains("sequence number 3 follows 1"));

    let err = verify(std::slice::from_ref(&path), &public_key()).unwrap_err();
    assert_eq!(err.location().map(|at| at.line), Some(1));
    assert!(matches!(err.problem(), Some(Problem::SetAside(_))), "{err}");
    let report = verify_with(&[path], &public_key(), &accept_set_aside()).unwrap();
    assert!(report.new_chain.is_some() && report.sealed);
}

#[tokio::test]
async fn an_emptied_or_removed_log_starts_a_chain_that_records_the_loss() {
    for remove in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = closed_log(dir.path(), 3, 2).await;
        if remove {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::write(&path, b"").unwrap();
        }
        let module = open(config(dir.path()));
        ok_exchanges(&module, 1).await;
        drop(module);
        assert!(
            set_aside_files(&path).unwrap().is_empty(),
            "nothing to set aside"
        );
        let marker = &parse(&lines(&path)[0])["recovery"];
        assert_eq!(marker["after"], "log_lost");
        assert!(
            marker["reason"]
                .as_str()
                .unwrap()
                .contains("records the tree head 4:"),
            "{marker}"
        );
        let err = verify(std::slice::from_ref(&path), &public_key()).unwrap_err();
        assert!(matches!(err.problem(), Some(Problem::SetAside(_))), "{err}");
        let report = verify_with(&[path], &public_key(), &accept_set_aside()).unwrap();
        assert_eq!(report.new_chain.unwrap().set_aside, None);
        assert_eq!(report.n_records, 1);
    }
}

#[tokio::test]
async fn a_log_cut_back_to_an_earlier_checkpoint_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.checkpoint_every = 2;
    let path = c.path.clone();
    let module = open(c);
    ok_exchanges(&module, 4).await;
    drop(module);
    // Back to the first periodic checkpoint: a clean-looking but shorter log.
    let l = lines(&path);
    let first_checkpoint = first_line_of_kind(&l, "checkpoint");
    write_lines(&path, &l[..=first_checkpoint]);
    drop(open(config(dir.path())));
    let aside = set_aside_files(&path).unwrap();
    assert_eq!(aside.len(), 1);
    let marker = &parse(&lines(&path)[0])["recovery"];
    let why = format!("ends at tree size {}", first_checkpoint + 1);
    assert!(
        marker["reason"].as_str().unwrap().contains(&why),
        "{marker}"
    );
}
