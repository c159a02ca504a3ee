use super::*;

/// RFC 9162 §2.1.1, written recursively, to check the incremental form against.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

#[test]
fn the_frontier_root_equals_the_recursive_tree_head_for_every_size() {
    let leaves: Vec<[u8; 32]> = (0u8..40).map(|i| [i; 32]).collect();
    let mut f = Frontier::default();
    assert_eq!(f.root(), mth(&[]));
    for n in 1..=leaves.len() {
        f.push(&leaves[n - 1]);
        assert_eq!(f.root(), mth(&leaves[..n]), "size {n}");
        let rebuilt = Frontier::from_parts(f.size(), &f.peaks()).unwrap();
        assert_eq!(rebuilt, f);
    }
}

#[test]
fn a_frontier_with_the_wrong_number_of_peaks_is_refused() {
    assert!(Frontier::from_parts(3, &[[0; 32]]).is_none());
}
