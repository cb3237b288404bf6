//! The statements of `ProviderRoster` (`shared/roster.rs`): look-ups,
//! and imports through a temporary table `roster_incoming`.

use crate::PerDatabase;

/// The entry of a (`tax_id`, `provider_id`) key, active or not.
pub const FIND: &str = concat!(
    "SELECT ",
    provider_columns!(),
    ", inactive_since FROM roster_entries WHERE tax_id = $1 AND provider_id = $2"
);

/// The active entries under a Tax ID.
pub const ACTIVE_UNDER_TAX_ID: &str = concat!(
    "SELECT ",
    provider_columns!(),
    ", inactive_since FROM roster_entries \
     WHERE tax_id = $1 AND inactive_since IS NULL ORDER BY provider_id"
);

/// PostgreSQL only: one import at a time (two concurrent `--replace` runs
/// would each deactivate the other's entries). SQLite's `BEGIN IMMEDIATE`
/// already holds the one write lock.
pub const LOCK_ROSTER: &str = "LOCK TABLE roster_entries IN SHARE ROW EXCLUSIVE MODE";

/// The table `roster_incoming` of [`CREATE_INCOMING`].
macro_rules! incoming_table {
    () => {
        "CREATE TEMP TABLE roster_incoming (tax_id text NOT NULL, provider_id text NOT NULL, \
         kind text NOT NULL, first_name text, last_name text, group_name text, payee text, \
         zips text NOT NULL, lines_of_business text NOT NULL, PRIMARY KEY (tax_id, provider_id))"
    };
}

/// SQLite only: a temporary table lives as long as the pooled connection,
/// so the import drops it first (this) and last ([`DROP_INCOMING`]).
/// PostgreSQL drops it at the commit (`ON COMMIT DROP`).
pub const DROP_INCOMING_IF_EXISTS: &str = "DROP TABLE IF EXISTS temp.roster_incoming";

/// The import's own table, where the file is staged a batch at a time.
pub const CREATE_INCOMING: PerDatabase = PerDatabase {
    postgres: concat!(incoming_table!(), " ON COMMIT DROP"),
    sqlite: incoming_table!(),
};

/// SQLite only: drops the import's table at the end (see
/// [`DROP_INCOMING_IF_EXISTS`]).
pub const DROP_INCOMING: &str = "DROP TABLE temp.roster_incoming";

/// Stages a batch: this, then the rows' values in `provider_columns!()`
/// order.
pub const INSERT_INCOMING: &str =
    concat!("INSERT INTO roster_incoming (", provider_columns!(), ") ");

/// PostgreSQL only: statistics for the comparison's plan (a temporary table
/// has none until analysed). SQLite plans it without.
pub const ANALYZE_INCOMING: &str = "ANALYZE roster_incoming";

/// The summary: the staged entries compared with what is stored now.
pub const COMPARE: &str = "SELECT count(*) FILTER (WHERE r.tax_id IS NULL) AS added, \
     count(*) FILTER (WHERE r.tax_id IS NOT NULL AND NOT same) AS changed, \
     count(*) FILTER (WHERE same AND r.inactive_since IS NULL) AS unchanged, \
     count(*) FILTER (WHERE same AND r.inactive_since IS NOT NULL) AS reactivated \
     FROM (SELECT r.tax_id, r.inactive_since, \
         (r.kind, r.first_name, r.last_name, r.group_name, r.payee, r.zips, r.lines_of_business) \
         IS NOT DISTINCT FROM \
         (i.kind, i.first_name, i.last_name, i.group_name, i.payee, i.zips, i.lines_of_business) AS same \
         FROM roster_incoming i LEFT JOIN roster_entries r \
         ON r.tax_id = i.tax_id AND r.provider_id = i.provider_id) r";

/// Active entries the file left out (what `--replace` deactivates).
pub const COUNT_LEFT_OUT: &str = "SELECT count(*) FROM roster_entries r WHERE r.inactive_since IS NULL \
     AND NOT EXISTS (SELECT 1 FROM roster_incoming i \
     WHERE i.tax_id = r.tax_id AND i.provider_id = r.provider_id)";

/// Writes only what is new, changed or inactive. (`WHERE true`: SQLite's
/// upsert after a `SELECT` needs a `WHERE` to parse.)
pub const UPSERT: &str = concat!(
    "INSERT INTO roster_entries (",
    provider_columns!(),
    ") SELECT ",
    provider_columns!(),
    " FROM roster_incoming WHERE true \
     ON CONFLICT (tax_id, provider_id) DO UPDATE SET kind = excluded.kind, \
     first_name = excluded.first_name, last_name = excluded.last_name, group_name = excluded.group_name, \
     payee = excluded.payee, zips = excluded.zips, lines_of_business = excluded.lines_of_business, \
     inactive_since = NULL \
     WHERE roster_entries.inactive_since IS NOT NULL OR \
     (roster_entries.kind, roster_entries.first_name, roster_entries.last_name, roster_entries.group_name, \
      roster_entries.payee, roster_entries.zips, roster_entries.lines_of_business) IS DISTINCT FROM \
     (excluded.kind, excluded.first_name, excluded.last_name, excluded.group_name, \
      excluded.payee, excluded.zips, excluded.lines_of_business)"
);

/// Deactivates, at `$1`, the active entries the file left out.
pub const DEACTIVATE_LEFT_OUT: &str = "UPDATE roster_entries SET inactive_since = $1 WHERE inactive_since IS NULL \
     AND NOT EXISTS (SELECT 1 FROM roster_incoming i \
     WHERE i.tax_id = roster_entries.tax_id AND i.provider_id = roster_entries.provider_id)";
