//! The AGTP verb catalog: which verbs are approved, embedded or legacy, and what to suggest
//! instead of a verb the catalog does not know.
//!
//! The catalog is data, not code: `catalog/verbs.toml` is compiled in ([`Catalog::embedded`])
//! and an operator may replace it with a file of the same shape ([`Catalog::from_file`]).
//! The type and its lookups live in `catalog/table.rs`, loading and validation in
//! `catalog/load.rs`. Lookups are exact: verbs are upper-case
//! tokens (the wire parser upper-cases the method), so `fetch` is not approved but `FETCH` is.

mod load;
mod table;
#[cfg(test)]
mod tests;

pub use load::{CatalogError, CatalogProblem};
pub use table::{Catalog, UnknownVerb, MAX_SUGGESTIONS, MAX_VERB_LEN};
