use agtp_core::module::AgentCertificate;

use super::{oid_content, parse_extension, EXTENSIONS};

/// Decodes the content octets of a `2.25.N` OID back to `N`.
fn arc_of(content: &[u8]) -> u128 {
    assert_eq!(content[0], 2 * 40 + 25);
    content[1..]
        .iter()
        .fold(0u128, |n, byte| (n << 7) | u128::from(byte & 0x7f))
}

#[test]
fn every_oid_encodes_its_arc_in_base_128_with_continuation_bits() {
    for extension in &EXTENSIONS {
        let content = oid_content(extension.arc);
        assert_eq!(arc_of(&content), extension.arc, "{}", extension.name);
        let (last, groups) = content[1..].split_last().unwrap();
        assert!(last & 0x80 == 0 && groups.iter().all(|b| b & 0x80 != 0));
        assert_ne!(groups.first(), Some(&0x80), "no leading zero group");
    }
}

fn parsed(name: &str, value: &[u8]) -> Result<AgentCertificate, &'static str> {
    let mut into = AgentCertificate::default();
    parse_extension(name, value, &mut into).map(|()| into)
}

#[test]
fn each_extension_takes_what_the_reference_writes() {
    let id = "ab".repeat(32);
    assert_eq!(
        parsed("subject-agent-id", id.as_bytes())
            .unwrap()
            .subject_agent_id,
        Some(id)
    );
    let scopes = parsed("authority-scope-commitment", b"a:read,b:write").unwrap();
    assert_eq!(
        scopes.authority_scopes,
        Some(vec!["a:read".into(), "b:write".into()])
    );
    assert_eq!(
        parsed("authority-scope-commitment", b"")
            .unwrap()
            .authority_scopes,
        Some(vec![])
    );
    assert_eq!(
        parsed("trust-tier", &[2, 1, 3]).unwrap().trust_tier,
        Some(3)
    );
    assert_eq!(
        parsed("archetype", b"monitor")
            .unwrap()
            .archetype
            .as_deref(),
        Some("monitor")
    );
    assert_eq!(
        parsed("governance-zone", b"zone:x")
            .unwrap()
            .governance_zone
            .as_deref(),
        Some("zone:x")
    );
    // Kept raw by the reference, never forwarded.
    assert_eq!(
        parsed("agtp-ctl-sct", &[0xff, 0]).unwrap(),
        AgentCertificate::default()
    );
}

#[test]
fn a_malformed_value_says_what_is_wrong() {
    for (name, value, says) in [
        ("subject-agent-id", &b"AB"[..], "64 lower-case hex"),
        (
            "subject-agent-id",
            "AB".repeat(32).as_bytes(),
            "64 lower-case hex",
        ),
        ("activation-certificate-id", b"xyz", "64 lower-case hex"),
        ("principal-id", &[0xff, 0xfe][..], "UTF-8"),
        ("principal-id", "p".repeat(257).as_bytes(), "256 bytes"),
        ("authority-scope-commitment", b"b,a", "sorted"),
        ("authority-scope-commitment", b"a,a", "distinct"),
        ("authority-scope-commitment", b"a,,b", "sorted"),
        ("trust-tier", &[2, 1, 4][..], "1, 2 or 3"),
        ("trust-tier", &[2, 2, 0, 1][..], "1, 2 or 3"),
        ("archetype", b"wizard", "archetype"),
    ] {
        let error = parsed(name, value).unwrap_err();
        assert!(error.contains(says), "{name} {value:?}: {error}");
    }
}
