//! The store ports on SQLite not yet written once in
//! `crates/portal-adapters-sql/src/shared/store/`: one file per port under
//! `store/`, over the shared helpers.

use crate::SqliteStore;
use crate::rows::time;
pub(crate) use crate::shared::store::*;
use crate::ts::{Ts, ts};
use sqlx::{Sqlite, SqliteConnection};

async fn insert_session(conn: &mut Conn, session: &Session) -> Result<(), StoreError> {
    sqlx::query(portal_adapters_sql::store::login_attempts::INSERT_SESSION)
        .bind(hash_bytes(&session.token_hash))
        .bind(session.account_id.get())
        .bind(Ts(session.created_at))
        .bind(Ts(session.last_seen_at))
        .execute(conn)
        .await
        .map_err(op("store session"))?;
    Ok(())
}

mod account_settings;
mod audit_log;
mod housekeeping;
mod login_attempts;
mod passkeys;
mod registrations;
mod second_factors;
mod sessions;
