//! The store ports on SQLite not yet written once in
//! `crates/portal-adapters-sql/src/shared/store/`: one file per port under
//! `store/`, over the shared helpers.

use crate::SqliteStore;
use crate::rows::time;
pub(crate) use crate::shared::store::*;
use crate::ts::Ts;

mod passkeys;
mod second_factors;
