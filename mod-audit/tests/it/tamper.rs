//! Every kind of tampering is detected, and reported at the first bad line.

use crate::common::*;
use agtp_core::module::Signer as _;
use mod_audit::{verify, verify_with, Problem, TreeHead, VerifyError, VerifyOptions};
use serde_json::Value;

fn problem_at(err: &VerifyError) -> (u64, Option<u64>, Problem) {
    let at = err.location().expect("names a line");
    (at.line, at.seq, err.problem().expect("a problem").clone())
}

#[tokio::test]
async fn an_untouched_log_verifies_and_ends_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 10, 4).await;
    let report = verify(&[path], &public_key()).unwrap();
    assert_eq!(report.n_records, 10);
    // checkpoints after records 4 and 8, then the shutdown checkpoint
    assert_eq!(report.n_checkpoints, 3);
    assert_eq!(report.n_entries, 13);
    assert!(report.sealed && report.starts_at_genesis());
    assert_eq!(report.unsealed_entries, 0);
    assert!(report.recoveries.is_empty());
}

#[tokio::test]
async fn an_edited_field_is_reported_at_its_line_as_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 6, 100).await;
    let mut l = lines(&path);
    l[2] = l[2].replace(r#""status":200"#, r#""status":201"#);
    write_lines(&path, &l);
    let err = verify(&[path], &public_key()).unwrap_err();
    let (line, seq, problem) = problem_at(&err);
    assert_eq!((line, seq), (3, Some(2)));
    assert!(matches!(problem, Problem::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("audit.log:3 (seq 2)"), "{err}");
}

#[tokio::test]
async fn a_deleted_line_is_reported_as_a_sequence_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 6, 100).await;
    let mut l = lines(&path);
    l.remove(3);
    write_lines(&path, &l);
    let (line, _, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!(line, 4);
    assert_eq!(
        problem,
        Problem::SeqMismatch {
            expected: 3,
            found: 4
        }
    );
}

#[tokio::test]
async fn two_swapped_lines_are_reported_at_the_first_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 6, 100).await;
    let mut l = lines(&path);
    l.swap(1, 2);
    write_lines(&path, &l);
    let (line, _, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!(line, 2);
    assert_eq!(
        problem,
        Problem::SeqMismatch {
            expected: 1,
            found: 2
        }
    );
}

#[tokio::test]
async fn a_truncated_tail_is_reported_even_when_it_ends_on_a_periodic_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 9, 4).await;
    let all = lines(&path);
    // Cut right after the second periodic checkpoint (line 10), dropping record 9 and
    // the shutdown checkpoint: every remaining line is intact and signed.
    assert_eq!(parse(&all[9])["reason"], "periodic");
    write_lines(&path, &all[..10]);
    let (line, _, problem) =
        problem_at(&verify(std::slice::from_ref(&path), &public_key()).unwrap_err());
    assert_eq!(line, 10);
    assert!(matches!(problem, Problem::Truncated(_)));
    // Cut in the middle of a run of records.
    write_lines(&path, &all[..7]);
    let (line, _, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!(line, 7);
    assert!(matches!(problem, Problem::Truncated(_)));
}

#[tokio::test]
async fn a_record_with_alg_none_and_an_empty_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 4, 100).await;
    let mut l = lines(&path);
    let mut fields = parse(&l[1]);
    fields.insert("alg".into(), "none".into());
    fields.insert("sig".into(), "".into());
    fields.insert("status".into(), 200.into());
    l[1] = canonical(&Value::Object(fields));
    write_lines(&path, &l);
    let (line, _, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!(line, 2);
    assert_eq!(problem, Problem::Unsigned { alg: "none".into() });
}

#[tokio::test]
async fn a_record_without_a_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 4, 100).await;
    let mut l = lines(&path);
    let mut fields = parse(&l[2]);
    fields.remove("sig");
    l[2] = canonical(&Value::Object(fields));
    write_lines(&path, &l);
    let (line, _, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!(line, 3);
    assert!(matches!(problem, Problem::Unsigned { .. }));
}

#[tokio::test]
async fn a_record_re_signed_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 4, 100).await;
    let mut l = lines(&path);
    let mut fields = parse(&l[1]);
    fields.insert("status".into(), 204.into());
    l[1] = signed_line(fields, &*intruder());
    write_lines(&path, &l);
    let (line, seq, problem) = problem_at(&verify(&[path], &public_key()).unwrap_err());
    assert_eq!((line, seq), (2, Some(1)));
    assert!(matches!(problem, Problem::BadSignature { .. }));
}

#[tokio::test]
async fn a_whole_log_re_signed_with_another_key_fails_at_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 3, 100).await;
    let err = verify(&[path], &intruder().public_key()).unwrap_err();
    assert_eq!(problem_at(&err).0, 1);
}

#[tokio::test]
async fn a_reformatted_or_inserted_line_is_not_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 4, 100).await;
    let original = lines(&path);
    let mut l = original.clone();
    l[1] = l[1].replacen(':', ": ", 1);
    write_lines(&path, &l);
    let (line, seq, problem) =
        problem_at(&verify(std::slice::from_ref(&path), &public_key()).unwrap_err());
    assert_eq!((line, seq), (2, None));
    assert!(matches!(problem, Problem::NotAnEntry(_)));
    let mut l = original;
    l.insert(2, "hello".into());
    write_lines(&path, &l);
    assert_eq!(
        problem_at(&verify(&[path], &public_key()).unwrap_err()).0,
        3
    );
}

#[tokio::test]
async fn a_cut_back_to_an_earlier_clean_shutdown_is_caught_only_by_a_witness() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_log(dir.path(), 3, 100).await;
    let first_run = lines(&path);
    let module = open(config(dir.path()));
    ok_exchanges(&module, 2).await;
    drop(module);
    let witness = verify(std::slice::from_ref(&path), &public_key())
        .unwrap()
        .head;
    assert_eq!(witness.tree_size, 4 + 3);
    // The attacker restores the file as it was after the first run.
    write_lines(&path, &first_run);
    assert!(verify(std::slice::from_ref(&path), &public_key()).is_ok());
    let options = VerifyOptions {
        witness: Some(witness),
        ..VerifyOptions::default()
    };
    let err = verify_with(std::slice::from_ref(&path), &public_key(), &options).unwrap_err();
    assert!(matches!(problem_at(&err).2, Problem::Witness(_)), "{err}");
    let head = TreeHead::parse(&witness.to_string()).unwrap();
    assert_eq!(head, witness);
}
