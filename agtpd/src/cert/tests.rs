use tempfile::TempDir;

use super::{encode, issue_agent, make_ca, placeholder, AgentSpec, Validity, CA_CERT};
use crate::mtls::{self, oid_content, EXTENSIONS};

#[test]
fn every_placeholder_is_as_long_as_its_oid_and_distinct() {
    let placeholders: Vec<Vec<u8>> = EXTENSIONS
        .iter()
        .enumerate()
        .map(|(index, extension)| {
            let real = oid_content(extension.arc);
            let arcs = placeholder(&real, index).unwrap();
            assert_eq!(encode(&arcs).len(), real.len(), "{}", extension.name);
            encode(&arcs)
        })
        .collect();
    for (n, one) in placeholders.iter().enumerate() {
        assert!(!placeholders[n + 1..].contains(one));
    }
}

#[test]
fn an_agent_certificate_carries_the_reference_oids_and_verifies_against_its_ca() {
    let dir = TempDir::new().unwrap();
    make_ca(dir.path(), "test CA", Validity::days(1)).unwrap();
    let spec = AgentSpec {
        common_name: "booking".into(),
        agent_id: Some("cd".repeat(32)),
        principal_id: Some("ops@example.org".into()),
        scopes: Some(vec!["b:write".into(), "a:read".into(), "a:read".into()]),
        zone: Some("zone:travel".into()),
        trust_tier: Some(1),
        archetype: Some("executor".into()),
        activation_certificate_id: Some("ef".repeat(32)),
    };
    let issued = issue_agent(
        dir.path(),
        &dir.path().join("agent"),
        &spec,
        Validity::days(1),
    )
    .unwrap();
    assert_eq!(issued.agent_id.as_deref(), Some("cd".repeat(32).as_str()));

    let pem = std::fs::read_to_string(&issued.cert).unwrap();
    let (_, der) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let read = mtls::read(&der.contents).unwrap();
    assert_eq!(
        read.authority_scopes,
        Some(vec!["a:read".into(), "b:write".into()])
    );
    assert_eq!(read.governance_zone.as_deref(), Some("zone:travel"));
    assert_eq!(read.trust_tier, Some(1));
    assert_eq!(read.activation_certificate_id, Some("ef".repeat(32)));

    let (_, cert) = x509_parser::parse_x509_certificate(&der.contents).unwrap();
    let critical: Vec<bool> = cert
        .extensions()
        .iter()
        .filter_map(|e| {
            let known = EXTENSIONS
                .iter()
                .find(|x| oid_content(x.arc) == e.oid.as_bytes())?;
            assert_eq!(e.critical, known.critical, "{}", known.name);
            Some(e.critical)
        })
        .collect();
    assert_eq!(critical.len(), 7);
    let ca_pem = std::fs::read_to_string(dir.path().join(CA_CERT)).unwrap();
    let (_, ca_der) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der.contents).unwrap();
    cert.verify_signature(Some(ca.public_key()))
        .expect("the re-signed certificate verifies");
}

#[test]
fn files_are_never_overwritten_and_bad_values_are_refused() {
    let dir = TempDir::new().unwrap();
    make_ca(dir.path(), "test CA", Validity::days(1)).unwrap();
    assert!(make_ca(dir.path(), "again", Validity::days(1)).is_err());
    let bad = AgentSpec {
        agent_id: Some("not hex".into()),
        ..AgentSpec::default()
    };
    let error =
        issue_agent(dir.path(), &dir.path().join("bad"), &bad, Validity::days(1)).unwrap_err();
    assert!(error.to_string().contains("64 lower-case hex"), "{error}");
    let comma = AgentSpec {
        scopes: Some(vec!["a,b".into()]),
        ..AgentSpec::default()
    };
    assert!(issue_agent(
        dir.path(),
        &dir.path().join("comma"),
        &comma,
        Validity::days(1)
    )
    .is_err());
}
