//! Reading the runbook: its sections, the commands of its `sh` blocks with
//! their comments, and what kind of command each is.

use std::collections::BTreeMap;

/// A command of a `sh` code block.
#[derive(Debug, Clone)]
pub(super) struct Line {
    /// The command without its comment, continuation lines joined.
    pub(super) command: String,
    /// Its `# comment`, with the comment-only lines that follow it.
    pub(super) comment: String,
}

/// A `## ` section of the runbook.
#[derive(Debug)]
pub(super) struct Section {
    pub(super) heading: String,
    pub(super) prose: String,
    pub(super) lines: Vec<Line>,
}

/// The runbook's sections, with the commands of their `sh` code blocks.
pub(super) fn parse(doc: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        heading: String::new(),
        prose: String::new(),
        lines: Vec::new(),
    }];
    let mut in_block = false;
    let mut pending = String::new();
    for (number, raw) in doc.lines().enumerate() {
        let section = sections.last_mut().unwrap();
        if let Some(fence) = raw.trim_start().strip_prefix("```") {
            if in_block {
                assert!(pending.is_empty(), "line {number}: a block ends in `\\`");
                in_block = false;
            } else {
                assert_eq!(
                    fence.trim(),
                    "sh",
                    "line {}: every code block of the runbook is `sh`, so that it is run",
                    number + 1
                );
                in_block = true;
            }
            continue;
        }
        if !in_block {
            if let Some(heading) = raw.strip_prefix("## ") {
                sections.push(Section {
                    heading: heading.trim().to_owned(),
                    prose: String::new(),
                    lines: Vec::new(),
                });
            } else {
                section.prose.push_str(raw);
                section.prose.push('\n');
            }
            continue;
        }
        let (code, comment) = split_comment(raw);
        if let Some(start) = code.trim_end().strip_suffix('\\') {
            pending.push_str(start.trim());
            pending.push(' ');
            continue;
        }
        let command = format!("{pending}{}", code.trim()).trim().to_owned();
        pending.clear();
        if command.is_empty() {
            if let (Some(previous), false) = (section.lines.last_mut(), comment.is_empty()) {
                previous.comment = format!("{} {comment}", previous.comment).trim().to_owned();
            }
            continue;
        }
        section.lines.push(Line {
            command,
            comment: comment.to_owned(),
        });
    }
    assert!(!in_block, "the runbook ends inside a code block");
    sections
}

/// A shell line's code and its `# comment` (a `#` outside quotes, at the
/// start or after a blank).
pub(super) fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => {
                return (&line[..at], line[at + 1..].trim());
            }
            _ => {}
        }
        previous = c;
    }
    (line, "")
}

/// What a command is, which decides how it is run and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Build,
    Export,
    Migrate,
    Serve,
    RosterDryRun,
    RosterImport,
    RosterReplace,
    AccountShow,
    AccountUnlock,
    AccountDisable,
    AccountEnable,
    VerifyAnswer,
    AuditList,
    PgDump,
    PgRestore,
    SqliteBackup,
}

pub(super) const KINDS: [Kind; 16] = [
    Kind::Build,
    Kind::Export,
    Kind::Migrate,
    Kind::Serve,
    Kind::RosterDryRun,
    Kind::RosterImport,
    Kind::RosterReplace,
    Kind::AccountShow,
    Kind::AccountUnlock,
    Kind::AccountDisable,
    Kind::AccountEnable,
    Kind::VerifyAnswer,
    Kind::AuditList,
    Kind::PgDump,
    Kind::PgRestore,
    Kind::SqliteBackup,
];

pub(super) fn kind(command: &str) -> Kind {
    // Leading `NAME=value` assignments and an `echo … |` feeding the
    // command do not change what it is.
    let program_part = command.rsplit('|').next().unwrap_or(command);
    let words: Vec<&str> = program_part
        .split_whitespace()
        .skip_while(|w| is_assignment(w))
        .collect();
    let has = |flag: &str| words.contains(&flag);
    match words.as_slice() {
        ["cargo", "build", ..] => Kind::Build,
        ["export", ..] => Kind::Export,
        ["portal-http", "migrate", ..] => Kind::Migrate,
        ["portal-http", "serve", ..] | ["portal-http"] => Kind::Serve,
        ["portal-http", "roster", "import", ..] if has("--dry-run") => Kind::RosterDryRun,
        ["portal-http", "roster", "import", ..] if has("--replace") => Kind::RosterReplace,
        ["portal-http", "roster", "import", ..] => Kind::RosterImport,
        ["portal-http", "account", "show", ..] => Kind::AccountShow,
        ["portal-http", "account", "unlock", ..] => Kind::AccountUnlock,
        ["portal-http", "account", "disable", ..] => Kind::AccountDisable,
        ["portal-http", "account", "enable", ..] => Kind::AccountEnable,
        ["portal-http", "support", "verify-answer", ..] => Kind::VerifyAnswer,
        ["portal-http", "audit", "list", ..] => Kind::AuditList,
        ["pg_dump", ..] => Kind::PgDump,
        ["pg_restore", ..] => Kind::PgRestore,
        ["sqlite3", ..] => Kind::SqliteBackup,
        _ => panic!(
            "the runbook has a command tests/api/runbook/ has no check for; add one: {command}"
        ),
    }
}

pub(super) fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The value after `--flag` in a command.
pub(super) fn flag<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

/// A PromQL-style anchored pattern of literal characters and `.`, checked
/// against the form of a value: same length, and each literal of the same
/// kind (digit, letter, other) as the value's character there.
pub(super) fn fits(pattern: &str, value: &str) -> bool {
    let class = |c: char| (c.is_ascii_digit(), c.is_alphabetic());
    assert!(
        pattern.chars().all(|c| c == '.' || c.is_alphanumeric()),
        "only literals and `.` are understood here: {pattern}"
    );
    pattern.chars().count() == value.chars().count()
        && pattern
            .chars()
            .zip(value.chars())
            .all(|(p, v)| p == '.' || class(p) == class(v))
}

/// `exit 0 match, 1 no match, 2 refused` → meaning → code.
pub(super) fn exit_codes(comment: &str) -> BTreeMap<String, i32> {
    comment
        .strip_prefix("exit ")
        .unwrap_or_else(|| panic!("expected `# exit N meaning, …`: {comment}"))
        .split(',')
        .map(|part| {
            let (code, meaning) = part.trim().split_once(' ').unwrap();
            (meaning.trim().to_owned(), code.parse().unwrap())
        })
        .collect()
}

pub(super) fn unquote(value: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}
