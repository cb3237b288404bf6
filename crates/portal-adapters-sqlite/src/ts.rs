//! Times as INTEGER microseconds since the Unix epoch (UTC).
//!
//! sqlx would store `OffsetDateTime` as RFC 3339 text, whose varying
//! fraction digits do not sort as times; integers compare exactly.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Sqlite, Type};
use time::OffsetDateTime;

/// A time column. Binding an `OffsetDateTime` directly is a bug in this
/// crate: always bind `Ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub OffsetDateTime);

impl Ts {
    fn micros(self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        Ok(Self(OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(micros) * 1_000,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn micros_keep_order_and_round_trip_at_microsecond_precision() {
        let a = Ts(datetime!(2026-01-01 00:00:00.000_001 UTC));
        let b = Ts(datetime!(2026-01-01 00:00:00.5 UTC));
        assert!(a.micros() < b.micros());
        assert_eq!(b.micros(), 1_767_225_600_500_000);
    }
}
