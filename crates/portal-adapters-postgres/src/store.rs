//! The store ports on PostgreSQL not yet written once in
//! `crates/portal-adapters-sql/src/shared/store/`: one file per port under
//! `store/`, over the shared helpers.

use crate::PgStore;
use crate::error::retry_contention;
pub(crate) use crate::shared::store::*;

mod passkeys;
mod second_factors;
