use super::*;

fn manifest(hash: &str) -> CachedManifest {
    CachedManifest {
        manifest_hash: hash.into(),
        endpoints: vec![EndpointSpec {
            method: "BOOK".into(),
            path: "/rooms/{room_id}".into(),
            handler_reference: "book".into(),
            input_schema_ref: "#/schemas/in".into(),
            output_schema_ref: "#/schemas/out".into(),
            errors: vec!["room_unavailable".into()],
            required_scopes: vec![],
        }],
    }
}

#[test]
fn a_stored_manifest_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/booking-default.manifest.json");
    ManifestCache::load(Some(path.clone()), |_| true).store(manifest("sha256:aa"));
    let reloaded = ManifestCache::load(Some(path), |_| true);
    assert_eq!(reloaded.hash().as_deref(), Some("sha256:aa"));
    assert_eq!(reloaded.get("sha256:aa"), Some(manifest("sha256:aa")));
    assert_eq!(reloaded.get("sha256:bb"), None);
}

#[test]
fn an_unusable_or_garbled_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    ManifestCache::load(Some(path.clone()), |_| true).store(manifest("sha256:aa"));
    assert_eq!(
        ManifestCache::load(Some(path.clone()), |_| false).hash(),
        None
    );
    fs::write(&path, b"{not json").unwrap();
    assert_eq!(ManifestCache::load(Some(path), |_| true).hash(), None);
}

#[test]
fn discard_forgets_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    let cache = ManifestCache::load(Some(path.clone()), |_| true);
    cache.store(manifest("sha256:aa"));
    cache.discard();
    assert_eq!(cache.hash(), None);
    assert!(!path.exists());
}

#[test]
fn without_a_path_the_cache_lives_in_memory() {
    let cache = ManifestCache::load(None, |_| true);
    assert_eq!(cache.hash(), None);
    cache.store(manifest("sha256:aa"));
    assert_eq!(cache.hash().as_deref(), Some("sha256:aa"));
}
