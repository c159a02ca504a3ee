//! Small text helpers shared by the error messages.

use std::fmt::Display;

/// `items` in backticks, comma-separated: `` `a`, `b` ``.
pub(crate) fn quoted_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
