use super::*;

#[test]
fn label_values_beyond_the_bound_count_as_other_and_known_ones_are_shared() {
    let interner = Interner::default();
    let first = interner.get("/rooms/{id}");
    assert!(Arc::ptr_eq(&first, &interner.get("/rooms/{id}")));
    for i in 1..MAX_LABEL_VALUES {
        assert_eq!(&*interner.get(&format!("/e{i}")), format!("/e{i}"));
    }
    assert_eq!(&*interner.get("/one-too-many"), "other");
    assert_eq!(&*interner.get("/e1"), "/e1", "known values stay");
}

#[test]
fn status_codes_fall_into_their_hundreds() {
    let classes: Vec<_> = [100, 200, 262, 404, 459, 503, 599]
        .into_iter()
        .map(status_class)
        .collect();
    assert_eq!(classes, ["1xx", "2xx", "2xx", "4xx", "4xx", "5xx", "5xx"]);
}
