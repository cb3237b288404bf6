//! Tidy checks over the repository itself, run as ordinary tests
//! (`cargo test -p xtask`, and so by `cargo xtask test`):
//!
//! - every `.rs` file starts with a `//!` inner doc comment;
//! - `portal-domain` pulls in no I/O crates through its normal dependencies;
//! - no `unsafe` code anywhere;
//! - no log field or example output in Rust's `Debug` form (`Some(…)`);
//! - every `.rs` file is named in `docs/ARCHITECTURE.md`'s code map
//!   (`code_map.rs`);
//! - the database adapters write no SQL of their own: their statements are
//!   `portal-adapters-sql`'s, written once for both (and so does the Rust
//!   they share, `portal-adapters-sql/src/shared/`).
//!
//! Each check is a pure function over text, unit-tested below with a sample
//! that must fail, so a check cannot silently pass everything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{cargo, workspace_root};

mod code_map;

/// Crate-name prefixes that mean I/O; the domain must not depend on them.
const IO_CRATES: &[&str] = &["tokio", "sqlx", "lettre", "axum", "hyper"];

/// Folders (by name) never scanned: build output and fuzz harnesses.
const SKIPPED_DIRS: &[&str] = &["target", "fuzz"];

// ---------------------------------------------------------------------------
// Pure checks
// ---------------------------------------------------------------------------

/// Whether the first non-empty line of `source` is a `//!` inner doc comment.
fn starts_with_inner_doc(source: &str) -> bool {
    source
        .lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_start().starts_with("//!"))
}

/// The lines of `cargo tree --prefix none --format {p}` output naming an I/O
/// crate: one whose name equals or starts with an entry of [`IO_CRATES`].
fn forbidden_io_crates(tree: &str) -> Vec<&str> {
    let mut found: Vec<&str> = tree
        .lines()
        .map(str::trim)
        .filter(|line| {
            let name = line.split(' ').next().unwrap_or_default();
            IO_CRATES.iter().any(|io| name.starts_with(io))
        })
        .map(|line| line.trim_end_matches(" (*)"))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// The 1-based numbers of the lines of `source` using the `unsafe` keyword,
/// outside comments and string or char literals.
fn unsafe_lines(source: &str) -> Vec<usize> {
    code_only(source)
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "unsafe")
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// Lines (1-based) that log a field with tracing's `?` sigil, which
/// records its `Debug` form (`Some(127.0.0.1)`): `?x`, `= ?x`, `(?x`.
fn debug_field_lines(source: &str) -> Vec<usize> {
    let code = code_only(source);
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            let trimmed = line.trim_start();
            let sigil_then_name = |at: &str| {
                at.strip_prefix('?')
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            };
            sigil_then_name(trimmed)
                || line
                    .match_indices("= ?")
                    .any(|(i, _)| sigil_then_name(&line[i + 2..]))
                || line
                    .match_indices("(?")
                    .any(|(i, _)| sigil_then_name(&line[i + 1..]))
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// Lines (1-based) of a format string that prints a `Debug` form (`{:?}`,
/// `{x:?}`, `{:#?}`).
fn debug_format_lines(source: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(":?}") || line.contains(":#?}"))
        .map(|(index, _)| index + 1)
        .collect()
}

/// The keywords a statement starts with, as the adapters write them.
const SQL_KEYWORDS: &[&str] = &[
    "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "WITH ", "CREATE ", "DROP ", "ALTER ", "LOCK ",
    "ANALYZE ",
];

/// The adapter sources that must take their statements from
/// `portal-adapters-sql`'s modules (their tests, after `#[cfg(test)]`, may
/// not): each adapter's own files, and the Rust they share, which lives in
/// that crate's folder but is compiled in theirs.
const SQL_FREE_SOURCES: &[&str] = &[
    "crates/portal-adapters-postgres/src/",
    "crates/portal-adapters-sqlite/src/",
    "crates/portal-adapters-sql/src/shared/",
];

/// The 1-based numbers of the lines of `source`, before its first
/// `#[cfg(test)]`, with a string literal that opens on an SQL keyword.
fn sql_literal_lines(source: &str) -> Vec<usize> {
    source
        .lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .enumerate()
        .filter(|(_, line)| {
            line.split('"').skip(1).step_by(2).any(|literal| {
                SQL_KEYWORDS
                    .iter()
                    .any(|keyword| literal.trim_start().starts_with(keyword))
            })
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// Whether `path` is code that runs in the product or its examples, not a
/// test or test support.
fn is_product_code(path: &str) -> bool {
    (path.contains("/src/") || path.contains("/examples/"))
        && !path.contains("/tests/")
        && !path.contains("/testing/")
        && !path.ends_with("tests.rs")
        && !path.starts_with("xtask/")
}

/// `source` with comments and the insides of string and char literals blanked
/// out (newlines kept, so line numbers still match).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let end = match (chars[i], chars.get(i + 1)) {
            ('/', Some('/')) => line_comment_end(&chars, i),
            ('/', Some('*')) => block_comment_end(&chars, i),
            ('"', _) => string_end(&chars, i),
            ('\'', _) => char_literal_end(&chars, i),
            _ => None,
        };
        match end {
            Some(end) => {
                let end = end.min(chars.len());
                out.extend(
                    chars[i..end]
                        .iter()
                        .map(|&c| if c == '\n' { c } else { ' ' }),
                );
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

fn line_comment_end(chars: &[char], start: usize) -> Option<usize> {
    let len = chars[start..].iter().position(|&c| c == '\n');
    Some(len.map_or(chars.len(), |len| start + len))
}

/// Block comments nest in Rust.
fn block_comment_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < chars.len() {
        match (chars[i], chars[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    Some(chars.len())
}

/// Handles plain (`"…"`, `b"…"`, `c"…"`) and raw (`r#"…"#`) strings; `start`
/// is the opening quote, the `r` and hashes before it are left as code.
fn string_end(chars: &[char], start: usize) -> Option<usize> {
    let hashes = chars[..start]
        .iter()
        .rev()
        .take_while(|&&c| c == '#')
        .count();
    let raw = start > hashes && chars[start - hashes - 1] == 'r';
    let hashes = if raw { hashes } else { 0 };
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if !raw => i += 2,
            '"' if chars[i + 1..].iter().take_while(|&&c| c == '#').count() >= hashes => {
                return Some(i + 1 + hashes);
            }
            _ => i += 1,
        }
    }
    Some(chars.len())
}

/// `'x'` and `'\…'` are char literals; anything else (`'a`, `'label:`) is a
/// lifetime or label and stays code.
fn char_literal_end(chars: &[char], start: usize) -> Option<usize> {
    match chars.get(start + 1..) {
        Some(['\\', _, rest @ ..]) => rest
            .iter()
            .position(|&c| c == '\'')
            .map(|offset| start + 3 + offset + 1),
        Some([_, '\'', ..]) => Some(start + 3),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Repository walk
// ---------------------------------------------------------------------------

/// Every `.rs` file under `crates/` and `xtask/`, sorted, as
/// (path relative to the workspace root, contents).
fn rust_sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask"] {
        collect_rs_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let source = fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            let relative = path.strip_prefix(root).unwrap_or(&path);
            (relative.display().to_string(), source)
        })
        .collect()
}

fn collect_rs_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
            .path();
        if path.is_dir() {
            let name = path.file_name().and_then(|name| name.to_str());
            if !name.is_some_and(|name| SKIPPED_DIRS.contains(&name)) {
                collect_rs_files(&path, files);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Fails with every problem listed, one per line.
fn assert_none(check: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "tidy: {check}:\n  {}",
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// The checks, over the repository
// ---------------------------------------------------------------------------

#[test]
fn every_rust_file_starts_with_an_inner_doc_comment() {
    let sources = rust_sources();
    assert!(!sources.is_empty(), "tidy: found no .rs files to check");
    let problems: Vec<String> = sources
        .iter()
        .filter(|(_, source)| !starts_with_inner_doc(source))
        .map(|(path, _)| format!("{path}:1: first non-empty line must be a `//!` doc comment"))
        .collect();
    assert_none("files without a leading `//!` doc comment", &problems);
}

#[test]
fn no_unsafe_code() {
    let problems: Vec<String> = rust_sources()
        .iter()
        .flat_map(|(path, source)| {
            unsafe_lines(source)
                .into_iter()
                .map(move |line| format!("{path}:{line}: `unsafe` is not allowed"))
        })
        .collect();
    assert_none("`unsafe` code found", &problems);
}

#[test]
fn logs_and_examples_print_no_debug_forms() {
    let mut problems = Vec::new();
    for (path, source) in rust_sources()
        .iter()
        .filter(|(path, _)| is_product_code(path))
    {
        for line in debug_field_lines(source) {
            problems.push(format!(
                "{path}:{line}: a log field in `Debug` form (`?x`): use `%x` or a plain value"
            ));
        }
        if path.contains("/examples/") {
            for line in debug_format_lines(source) {
                problems.push(format!("{path}:{line}: example output in `Debug` form"));
            }
        }
    }
    assert_none("`Debug` forms in logs or examples", &problems);
}

#[test]
fn database_adapters_take_their_sql_from_the_sql_crate() {
    let mut problems = Vec::new();
    for (path, source) in rust_sources()
        .iter()
        .filter(|(path, _)| SQL_FREE_SOURCES.iter().any(|dir| path.starts_with(dir)))
    {
        for line in sql_literal_lines(source) {
            problems.push(format!(
                "{path}:{line}: a statement written here: put it in crates/portal-adapters-sql \
                 (one text for both databases, or a `PerDatabase`)"
            ));
        }
    }
    assert_none("SQL written in a database adapter", &problems);
}

#[test]
fn domain_has_no_io_dependencies() {
    let output = Command::new(cargo())
        .current_dir(workspace_root())
        .args([
            "tree",
            "-p",
            "portal-domain",
            "-e",
            "normal",
            "--all-features",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("running cargo tree");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tidy: cargo tree failed:\n{stderr}"
    );
    let tree = String::from_utf8(output.stdout).expect("cargo tree output is UTF-8");
    assert!(
        tree.lines().any(|line| line.starts_with("portal-domain ")),
        "tidy: unexpected cargo tree output:\n{tree}"
    );
    let problems: Vec<String> = forbidden_io_crates(&tree)
        .into_iter()
        .map(|krate| {
            format!("crates/portal-domain/Cargo.toml: depends (transitively) on `{krate}`")
        })
        .collect();
    assert_none(
        "portal-domain must not depend on I/O crates (tokio, sqlx, lettre, axum, hyper)",
        &problems,
    );
}

// ---------------------------------------------------------------------------
// The checks can fail
// ---------------------------------------------------------------------------

#[test]
fn doc_comment_check_rejects_files_without_one() {
    assert!(starts_with_inner_doc("\n//! Module docs.\nfn f() {}\n"));
    assert!(!starts_with_inner_doc("/// Item docs.\nfn f() {}\n"));
    assert!(!starts_with_inner_doc("use std::fs;\n//! Too late.\n"));
    assert!(!starts_with_inner_doc(""));
}

#[test]
fn io_crate_check_flags_io_crates() {
    let tree = "\
portal-domain v0.1.0 (/work/crates/portal-domain)
thiserror v2.0.0
tokio v1.0.0
mio v1.0.0
tokio-util v0.7.0
tokio v1.0.0 (*)
hyper-util v0.1.0
sqlx-core v0.8.0
my-tokio v1.0.0
";
    assert_eq!(
        forbidden_io_crates(tree),
        [
            "hyper-util v0.1.0",
            "sqlx-core v0.8.0",
            "tokio v1.0.0",
            "tokio-util v0.7.0"
        ]
    );
    assert!(forbidden_io_crates("portal-domain v0.1.0 (/src/tokio)\ntime v0.3.0\n").is_empty());
}

#[test]
fn debug_form_checks_flag_sigils_and_debug_formats() {
    let source = "tracing::warn!(?error, \"x\");\n\
                  tracing::info!(\n    ?addr,\n    a = ?b,\n    c = %d,\n);\n\
                  let x = f()?;\nlet y = \"(?i)\";\nprintln!(\"{:?} {v:#?}\");\n";
    assert_eq!(debug_field_lines(source), vec![1, 3, 4]);
    assert_eq!(debug_format_lines(source), vec![9]);
    assert!(is_product_code(
        "crates/portal-domain/examples/walkthrough.rs"
    ));
    assert!(!is_product_code("crates/portal-http/tests/api/logs.rs"));
}

#[test]
fn sql_check_flags_statements_in_string_literals() {
    let source = "\
//! Sample.
let row = sqlx::query(sql::BY_ID).bind(1);
let row = sqlx::query(\"SELECT 1\");
let tx = pool.begin_with(\"BEGIN IMMEDIATE\");
sqlx::query(
    \"  UPDATE accounts SET disabled = $2 \\
     WHERE id = $1\",
);
let s = format!(\"no account {}\", id);
#[cfg(test)]
let probe = \"CREATE TABLE probe (id int)\";
";
    assert_eq!(sql_literal_lines(source), [3, 6]);
}

#[test]
fn unsafe_check_flags_unsafe_code_only() {
    let source = "\
//! Sample.
fn a() { unsafe { f() } }
unsafe fn b() {}
unsafe impl Send for S {}
// unsafe in a comment
/* unsafe in a /* nested */ block
   comment unsafe */
let s = \"unsafe in a string, with \\\" an escaped quote\";
let r = r#\"unsafe in a \"raw\" string\"#;
let q = '\"'; let u = unsafe { g() };
fn c<'a>(x: &'a u8) -> char { '\\'' }
#![forbid(unsafe_code)]
#[unsafe(no_mangle)]
";
    assert_eq!(unsafe_lines(source), [2, 3, 4, 10, 13]);
}
