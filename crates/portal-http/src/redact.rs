//! `Debug` for the types that carry a password, a security answer or a
//! token: such members print as `[REDACTED]`, so a `{:?}` in a log line,
//! a panic message or a test failure never shows one.

use std::fmt;

/// What a secret member prints.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Implements `Debug` for a struct: the members listed first print as
/// usual, the ones after `redacting` as `[REDACTED]`, and a member in
/// neither list does not print at all (a new member is hidden until
/// someone decides it may be shown).
macro_rules! debug_redacting {
    ($ty:ident { $($shown:ident),* $(,)? } redacting { $($secret:ident),+ $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($secret), &$crate::redact::Redacted))+
                    .finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use debug_redacting;
