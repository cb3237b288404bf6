//! The SQL the storage adapters run (`portal-adapters-postgres` and
//! `portal-adapters-sqlite`), written once.
//!
//! Every statement is a `&'static str` built at compile time (`concat!` of
//! literals): nothing is formatted per call and nothing from outside is
//! spliced in. Placeholders are `$N` on both databases (sqlx binds SQLite's
//! `$N` by number, as PostgreSQL does), so one text serves both wherever
//! the databases agree. Times are bound by each adapter in its own type
//! (`timestamptz` on PostgreSQL, integer microseconds on SQLite): the text
//! does not change with it.
//!
//! Where the databases really differ (row locks against SQLite's one write
//! lock, the one-statement login, `LATERAL`, `SKIP LOCKED`, …) the
//! statement is a [`PerDatabase`]: both texts side by side, the difference
//! explained once above them. A statement only one database runs says so
//! in its first line and why the other needs none.
//!
//! The modules mirror the files of the Rust that runs them: [`store`] holds
//! the statements of the helpers in `shared/store.rs`, `store::<port>`
//! those of `shared/store/<port>.rs`, and so on.
//!
//! `src/shared/` is not a module of this crate, which needs no
//! dependencies: it is the Rust both adapters run (the port
//! implementations, the row reading), written once and compiled inside
//! each adapter against its own `dialect.rs` (see `shared/mod.rs`).

/// The account columns `shared/rows.rs`'s `account` reads.
macro_rules! account_columns {
    () => {
        "id, username, email, password_hash, provider_kind, tax_id, provider_id, activated_at, disabled, \
         failed_logins, locked_until, agreement_version, agreement_hash, agreement_accepted_at, \
         agreement_client_addr, security_question, security_answer_hash, created_at, last_login_at"
    };
}

/// The roster columns `shared/rows.rs`'s `provider` reads.
macro_rules! provider_columns {
    () => {
        "tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, lines_of_business"
    };
}

/// The roster columns besides the key, of the entry joined to an account as
/// `r` (the key is the account's own `tax_id`, `provider_id`): the
/// `shared/rows.rs`'s `joined_provider` reads them.
macro_rules! joined_provider_columns {
    () => {
        "r.kind, r.first_name, r.last_name, r.group_name, r.payee, r.zips, r.lines_of_business, \
         r.inactive_since"
    };
}

/// A registration flow's columns, in the order the adapters bind them.
macro_rules! flow_columns {
    () => {
        "id, version, state, tax_id, provider_id, kind, first_name, last_name, group_name, payee, zips, \
         lines_of_business, agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, \
         expires_at, finished_at"
    };
}

/// The placeholders of [`flow_columns`], in its order.
macro_rules! flow_values {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18"
    };
}

pub mod outbox;
pub mod roster;
pub mod schema;
pub mod store;

/// One statement whose text differs between the two databases, both
/// variants side by side. Each adapter names its own field, a constant
/// read at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerDatabase {
    /// The text `portal-adapters-postgres` runs.
    pub postgres: &'static str,
    /// The text `portal-adapters-sqlite` runs.
    pub sqlite: &'static str,
}
