//! Schema versions (SPEC §9): the migrations a binary embeds against those a
//! database records, and the verdict a binary acts on before it touches the
//! database. Shared by the SQL adapters, which read their own migration
//! tables and embed their own migrations, so that both judge alike.
//!
//! A schema's version is the version of its newest migration (migrations are
//! numbered by time, `20261126000001`).

/// A migration as a database records it (`_sqlx_migrations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMigration {
    pub version: i64,
    /// False when the migration failed halfway.
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// A migration as the binary embeds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedMigration<'a> {
    pub version: i64,
    pub checksum: &'a [u8],
}

/// How a database's schema stands against the binary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// No table and no migration recorded: a new database.
    Empty,
    /// Exactly the binary's migrations, all applied.
    Current,
    /// Some of the binary's migrations are not applied yet: an older
    /// binary migrated it (or tables exist that no migration recorded).
    Behind,
    /// The database records migrations the binary does not have: a newer
    /// binary migrated it.
    Ahead,
    /// This migration failed halfway and is recorded as failed.
    Failed { version: i64 },
    /// This migration is recorded with other content than the binary's of
    /// the same version: another build migrated it.
    Modified { version: i64 },
}

/// The verdict with both versions, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaCheck {
    pub state: SchemaState,
    /// The newest migration the database applied successfully; `None`
    /// when it applied none.
    pub database_version: Option<i64>,
    /// The newest migration the binary embeds; `None` when it embeds none.
    pub binary_version: Option<i64>,
}

impl SchemaCheck {
    /// Compares the migrations a database `recorded` (none when it has no
    /// migration table) with those the binary `embedded`; `has_tables`
    /// tells whether the database holds tables besides the migration table.
    pub fn compare(
        embedded: &[EmbeddedMigration<'_>],
        recorded: &[RecordedMigration],
        has_tables: bool,
    ) -> Self {
        let binary_version = embedded.iter().map(|m| m.version).max();
        let database_version = recorded
            .iter()
            .filter(|m| m.success)
            .map(|m| m.version)
            .max();
        let state = state(embedded, recorded, has_tables);
        Self {
            state,
            database_version,
            binary_version,
        }
    }
}

/// The first that applies: nothing at all, a failed migration, one the
/// binary lacks, one that differs, one the database lacks, else current.
fn state(
    embedded: &[EmbeddedMigration<'_>],
    recorded: &[RecordedMigration],
    has_tables: bool,
) -> SchemaState {
    // Tables without a record are not "no schema yet": migrating them
    // would trip over what exists.
    if recorded.is_empty() && !has_tables {
        return SchemaState::Empty;
    }
    if let Some(failed) = recorded.iter().find(|m| !m.success) {
        return SchemaState::Failed {
            version: failed.version,
        };
    }
    let embedded_of = |version: i64| embedded.iter().find(|m| m.version == version);
    if recorded.iter().any(|m| embedded_of(m.version).is_none()) {
        return SchemaState::Ahead;
    }
    if let Some(modified) = recorded
        .iter()
        .find(|m| embedded_of(m.version).is_some_and(|e| e.checksum != m.checksum.as_slice()))
    {
        return SchemaState::Modified {
            version: modified.version,
        };
    }
    if embedded
        .iter()
        .any(|e| !recorded.iter().any(|m| m.version == e.version))
    {
        return SchemaState::Behind;
    }
    SchemaState::Current
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: EmbeddedMigration<'static> = EmbeddedMigration {
        version: 1,
        checksum: b"one",
    };
    const SECOND: EmbeddedMigration<'static> = EmbeddedMigration {
        version: 2,
        checksum: b"two",
    };

    fn applied(migration: EmbeddedMigration<'_>) -> RecordedMigration {
        RecordedMigration {
            version: migration.version,
            success: true,
            checksum: migration.checksum.to_vec(),
        }
    }

    fn check(recorded: &[RecordedMigration]) -> SchemaCheck {
        SchemaCheck::compare(&[FIRST, SECOND], recorded, true)
    }

    #[test]
    fn nothing_recorded_and_no_tables_is_empty() {
        assert_eq!(
            SchemaCheck::compare(&[FIRST, SECOND], &[], false),
            SchemaCheck {
                state: SchemaState::Empty,
                database_version: None,
                binary_version: Some(2),
            }
        );
    }

    #[test]
    fn tables_that_no_migration_recorded_are_behind() {
        let checked = check(&[]);
        assert_eq!(checked.state, SchemaState::Behind);
        assert_eq!(checked.database_version, None);
    }

    #[test]
    fn all_applied_is_current() {
        let recorded = [applied(FIRST), applied(SECOND)];
        let checked = check(&recorded);
        assert_eq!(checked.state, SchemaState::Current);
        assert_eq!(checked.database_version, Some(2));
    }

    #[test]
    fn a_missing_migration_is_behind() {
        let checked = check(&[applied(FIRST)]);
        assert_eq!(checked.state, SchemaState::Behind);
        assert_eq!(
            (checked.database_version, checked.binary_version),
            (Some(1), Some(2))
        );
    }

    #[test]
    fn an_unknown_migration_is_ahead() {
        let third = RecordedMigration {
            version: 3,
            success: true,
            checksum: b"three".to_vec(),
        };
        let checked = check(&[applied(FIRST), applied(SECOND), third]);
        assert_eq!(checked.state, SchemaState::Ahead);
        assert_eq!(
            (checked.database_version, checked.binary_version),
            (Some(3), Some(2))
        );
    }

    #[test]
    fn a_failed_migration_wins_over_everything() {
        let mut second = applied(SECOND);
        second.success = false;
        let checked = check(&[applied(FIRST), second]);
        assert_eq!(checked.state, SchemaState::Failed { version: 2 });
        assert_eq!(checked.database_version, Some(1), "only successes count");
    }

    #[test]
    fn other_content_under_a_known_version_is_modified() {
        let mut first = applied(FIRST);
        first.checksum = b"edited".to_vec();
        assert_eq!(
            check(&[first, applied(SECOND)]).state,
            SchemaState::Modified { version: 1 }
        );
    }
}
