//! `agtp-site`: what an AGTP server hosts and the rules it applies to a request before
//! any handler runs, as data: the verb catalog (459) and path grammar (460), the hosted
//! agent documents, the endpoint files with their compiled schemas and router, the
//! `[policies]`, and the documents derived from them: the Server Manifest and each
//! runtime pool's `register` frame. The daemon and the runtime conformance checker
//! share it.
//!
//! Layout:
//! - [`catalog`] and [`path_grammar`]: the verb catalog and the path rules;
//! - [`agents`]: agent documents (loading, v1 migration, lifecycle, scopes, soft-deny,
//!   DESCRIBE);
//! - [`endpoints`]: endpoint files (strict loading, JSON Schemas, routing with
//!   templates, input building);
//! - [`policy`]: `[policies]` compiled against the catalog;
//! - [`manifest`]: the Server Manifest, the endpoint list and an agent's index;
//! - [`register`]: the `register` frame of each runtime pool (PROTOCOL.md §7.1);
//! - [`site`]: all of it loaded together, the unit a reload swaps.
//!
//! Dependency rule: `agtp-core` and `runtime-protocol` only; nothing here knows the
//! daemon, its modules or its configuration file.

pub mod agents;
pub mod catalog;
pub mod endpoints;
pub mod manifest;
pub mod path_grammar;
pub mod policy;
pub mod register;
pub mod site;
mod text;

pub use manifest::{AgentDisclosure, ManifestContext, ManifestInfo};
pub use site::{Site, SiteConfig, SiteError};
