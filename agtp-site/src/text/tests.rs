#[test]
fn items_are_backticked_and_comma_separated() {
    assert_eq!(super::quoted_list(["a", "b"]), "`a`, `b`");
    assert_eq!(super::quoted_list(Vec::<String>::new()), "");
}
