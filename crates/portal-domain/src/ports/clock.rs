//! [`Clock`]: the time.

use time::OffsetDateTime;

/// The time. The domain never reads a clock of its own.
#[cfg_attr(feature = "testing", mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}
