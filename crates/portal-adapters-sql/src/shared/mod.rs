//! The Rust both database adapters run, written once: not a module of
//! `portal-adapters-sql` (which stays the statements alone, without
//! dependencies) but compiled inside `portal-adapters-postgres` and
//! `portal-adapters-sqlite`, each including this folder with
//! `#[path = "../../portal-adapters-sql/src/shared/mod.rs"] mod shared;`.
//!
//! The code names the adapter's own concrete types and functions from its
//! `dialect.rs` (`Store`, `Db`, `Conn`, how a time is bound, how a write
//! transaction begins, …): each compilation sees one database's types, so
//! there are no generic bounds and no work per call. Where the databases'
//! control flow differs, the shared code calls a function of the same name
//! that each `dialect.rs` writes its own way, the difference documented
//! there, side by side with its twin.

pub(crate) mod outbox;
pub(crate) mod roster;
pub(crate) mod rows;
pub(crate) mod schema;
pub(crate) mod store;
