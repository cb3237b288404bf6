//! Who migrates (SPEC §9). `migrate` applies the migrations. `serve`
//! applies them itself only to a database with no schema yet, so that a
//! first start on a fresh machine works, or with `--demo`. Every other
//! command, and `serve` otherwise, runs only on a schema exactly the
//! binary's: on one behind or ahead it refuses before it changes anything,
//! naming `migrate` and both versions. A newer binary therefore never
//! migrates a production database underneath older instances by accident.

use std::fmt;

use portal_domain::schema::{SchemaCheck, SchemaState};

use crate::state::{Database, DatabaseError};

/// What the process is about to do with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `migrate`: applies the migrations itself, whatever the schema.
    Migrate,
    /// `serve`, `--demo` or not.
    Serve { demo: bool },
    /// Any other command.
    Command,
}

/// Why the process does not go on.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema could not be read or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The schema is not the binary's; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// A schema the binary will not run on, with both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub SchemaCheck);

impl std::error::Error for Refusal {}

/// What `start` does on a schema in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on as it is.
    Run,
    /// Apply the migrations, then go on.
    MigrateFirst,
    /// Stop before changing anything.
    Refuse,
}

/// The rule of SPEC §9 for `start` on a schema in `state`.
pub fn decide(start: Start, state: SchemaState) -> Decision {
    match (start, state) {
        (Start::Migrate, _) | (_, SchemaState::Current) => Decision::Run,
        (Start::Serve { .. }, SchemaState::Empty)
        | (Start::Serve { demo: true }, SchemaState::Behind) => Decision::MigrateFirst,
        _ => Decision::Refuse,
    }
}

/// Makes the database's schema fit for `start`: migrates it when `start`
/// may, refuses when it is not the binary's.
pub async fn prepare(database: &Database, start: Start) -> Result<(), SchemaError> {
    if start == Start::Migrate {
        return Ok(());
    }
    let check = database.schema().await?;
    match decide(start, check.state) {
        Decision::Run => Ok(()),
        Decision::MigrateFirst => {
            database.migrate().await?;
            tracing::info!(
                from = %Version(check.database_version),
                to = %Version(check.binary_version),
                "migrations applied"
            );
            Ok(())
        }
        Decision::Refuse => Err(Refusal(check).into()),
    }
}

/// A schema version as written in messages.
struct Version(Option<i64>);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(version) => write!(f, "{version}"),
            None => f.write_str("none"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SchemaCheck {
            state,
            database_version,
            binary_version,
        } = self.0;
        let (database, binary) = (Version(database_version), Version(binary_version));
        match state {
            SchemaState::Empty | SchemaState::Behind => write!(
                f,
                "the database schema is at version {database}, this binary needs version \
                 {binary}: run `portal-http migrate` with this binary first"
            ),
            SchemaState::Ahead => write!(
                f,
                "the database schema is at version {database}, newer than this binary's \
                 version {binary}: a newer release ran `portal-http migrate` on it; run that \
                 release"
            ),
            SchemaState::Failed { version } => write!(
                f,
                "the database schema is at version {database} and migration {version} failed \
                 halfway, this binary needs version {binary}: repair it by hand, then run \
                 `portal-http migrate`"
            ),
            SchemaState::Modified { version } => write!(
                f,
                "the database schema is at version {database}, this binary's is version \
                 {binary}, and migration {version} differs from this binary's: another build \
                 ran `portal-http migrate` on it"
            ),
            // Never refused; written for completeness.
            SchemaState::Current => write!(
                f,
                "the database schema is at version {database}, this binary's version {binary}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(state: SchemaState, database_version: Option<i64>) -> String {
        Refusal(SchemaCheck {
            state,
            database_version,
            binary_version: Some(20261126000001),
        })
        .to_string()
    }

    #[test]
    fn only_migrate_and_serve_migrate() {
        use Decision::*;
        use SchemaState::*;
        let failed = Failed { version: 1 };
        let modified = Modified { version: 1 };
        let states = [Empty, Current, Behind, Ahead, failed, modified];
        let table = [
            (Start::Migrate, [Run, Run, Run, Run, Run, Run]),
            (
                Start::Serve { demo: false },
                [MigrateFirst, Run, Refuse, Refuse, Refuse, Refuse],
            ),
            (
                Start::Serve { demo: true },
                [MigrateFirst, Run, MigrateFirst, Refuse, Refuse, Refuse],
            ),
            (
                Start::Command,
                [Refuse, Run, Refuse, Refuse, Refuse, Refuse],
            ),
        ];
        for (start, expected) in table {
            for (state, expected) in states.into_iter().zip(expected) {
                assert_eq!(decide(start, state), expected, "{start:?} on {state:?}");
            }
        }
    }

    #[test]
    fn every_refusal_names_migrate_and_both_versions() {
        for (state, database) in [
            (SchemaState::Empty, None),
            (SchemaState::Behind, Some(20261120000001)),
            (SchemaState::Ahead, Some(20261201000001)),
            (
                SchemaState::Failed {
                    version: 20261126000001,
                },
                Some(20261120000001),
            ),
            (
                SchemaState::Modified {
                    version: 20261126000001,
                },
                Some(20261126000001),
            ),
        ] {
            let message = refusal(state, database);
            assert!(message.contains("`portal-http migrate`"), "{message}");
            assert!(message.contains("20261126000001"), "{message}");
            let database = database.map_or_else(|| "none".to_owned(), |v| v.to_string());
            assert!(
                message.contains(&format!("at version {database}")),
                "{message}"
            );
        }
    }
}
