//! The statements of `AuditLog` (`shared/store/audit_log.rs`): a page is this
//! query with the filters asked for appended, each with its bound value
//! (so each combination is a statement of its own, with its own plan).

/// A page of audit events, before its filters (`WHERE true`, so each
/// filter appends `AND …`).
pub const PAGE: &str =
    "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE true";

/// Events of one username: this, the username bound, then [`CLOSE`].
pub const AND_USERNAME: &str = " AND lower(username) = lower(";

/// Events at or after a time: this, then the time bound.
pub const AND_SINCE: &str = " AND at >= ";

/// Events after a cursor: this, its time bound, [`SEPARATOR`], its id
/// bound, then [`CLOSE`].
pub const AND_AFTER: &str = " AND (at, id) > (";

/// Between two bound values.
pub const SEPARATOR: &str = ", ";

/// Closes a parenthesis a filter opened.
pub const CLOSE: &str = ")";

/// The page's order and size: this, then the limit bound.
pub const ORDER_AND_LIMIT: &str = " ORDER BY at, id LIMIT ";
