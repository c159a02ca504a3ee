use super::*;

#[test]
fn extensions_hold_one_value_per_type() {
    #[derive(Debug, PartialEq)]
    struct Key(u32);
    let mut ext = Extensions::default();
    ext.insert(Key(1));
    ext.insert(Key(2));
    ext.insert("text");
    assert_eq!(ext.get::<Key>(), Some(&Key(2)));
    assert_eq!(ext.remove::<Key>(), Some(Key(2)));
    assert_eq!(ext.get::<Key>(), None);
    assert_eq!(ext.get::<&str>(), Some(&"text"));
}
