//! The code map cannot rot: every `.rs` file under `crates/` and `xtask/`
//! is named in `docs/ARCHITECTURE.md`'s code map, itself or through a
//! folder that holds it.
//!
//! The map has one `###` section per crate (a heading may name two
//! crates, `` `crates/a` and `crates/b` ``). Inside a crate's sections a
//! name is anything in backticks; it names a file or a folder relative to
//! the crate (`tests/it/`, `examples/`) or to its `src/` (`service/`,
//! `store.rs`). A new file that no section names fails the test, and so
//! does a map that forgets a file.

use std::fs;

use super::{assert_none, rust_sources};
use crate::workspace_root;

/// One `###` section of the code map: the crate folders its heading
/// names, and every name in backticks in its text.
#[derive(Debug, PartialEq, Eq)]
struct Section {
    crates: Vec<String>,
    names: Vec<String>,
}

/// The text inside each pair of backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The sections of the `## Code map` chapter of `architecture`.
fn code_map(architecture: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut in_map = false;
    for line in architecture.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_map = heading.trim() == "Code map";
            continue;
        }
        if !in_map {
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            let crates = backticked(heading)
                .into_iter()
                .map(|name| name.trim_end_matches('/').to_owned())
                .filter(|name| name.starts_with("crates/") || name == "xtask")
                .collect();
            sections.push(Section {
                crates,
                names: Vec::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.names.extend(backticked(line));
        }
    }
    sections
}

/// Whether `name` (a file, or a folder with or without its trailing `/`)
/// names `path` (relative to its crate), from the crate or from its `src/`.
fn names(name: &str, path: &str) -> bool {
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        return false;
    }
    [path, path.strip_prefix("src/").unwrap_or(path)]
        .into_iter()
        .any(|path| {
            path == name
                || path
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The files of `paths` (relative to the workspace root) that no section
/// of `map` names.
fn unnamed<'p>(map: &[Section], paths: &'p [String]) -> Vec<&'p str> {
    paths
        .iter()
        .map(String::as_str)
        .filter(|path| {
            !map.iter().any(|section| {
                section.crates.iter().any(|krate| {
                    path.strip_prefix(krate.as_str())
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|in_crate| {
                            section.names.iter().any(|name| names(name, in_crate))
                        })
                })
            })
        })
        .collect()
}

#[test]
fn every_source_file_is_on_the_code_map() {
    let path = workspace_root().join("docs/ARCHITECTURE.md");
    let architecture = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let map = code_map(&architecture);
    assert!(
        map.len() >= 5,
        "tidy: found no code map sections in docs/ARCHITECTURE.md"
    );
    let sources: Vec<String> = rust_sources().into_iter().map(|(path, _)| path).collect();
    let problems: Vec<String> = unnamed(&map, &sources)
        .into_iter()
        .map(|path| {
            format!("{path}: not named in docs/ARCHITECTURE.md's code map (nor its folder)")
        })
        .collect();
    assert_none("files missing from the code map", &problems);
}

#[test]
fn code_map_check_flags_files_no_section_names() {
    let map = code_map(
        "# Architecture\n\n## Code map\n\n\
         ### `crates/one`\n\n- `values/`: newtypes; `lib.rs` too.\n- `tests/it/`: tests.\n\n\
         ### `crates/two` and `crates/three`\n\n`store.rs` holds it.\n\n\
         ## Cross-cutting decisions\n\n- `crates/one/src/later.rs` is not on the map.\n",
    );
    assert_eq!(
        map[1].crates,
        ["crates/two", "crates/three"],
        "a heading may name two crates"
    );
    let paths: Vec<String> = [
        "crates/one/src/values/email.rs",
        "crates/one/src/lib.rs",
        "crates/one/tests/it/main.rs",
        "crates/one/src/valuesque.rs",
        "crates/one/src/later.rs",
        "crates/three/src/store.rs",
        "crates/three/src/rows.rs",
        "crates/one/src/store.rs",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(
        unnamed(&map, &paths),
        [
            "crates/one/src/valuesque.rs",
            "crates/one/src/later.rs",
            "crates/three/src/rows.rs",
            "crates/one/src/store.rs",
        ]
    );
}
