//! `cargo xtask schemathesis [MAX_EXAMPLES]`: property-based tests of the
//! JSON API from its own OpenAPI document.
//!
//! Installs schemathesis 4.x from PyPI into a virtualenv under
//! `target/schemathesis-venv` (once), starts the release service on a fresh
//! SQLite file with the example roster and one activated account whose
//! session token is sent with every request (so the authenticated routes are
//! exercised too), and runs `schemathesis run` on `/api/v1/openapi.json`
//! with every check. The command fails when any response is a server error
//! (`not_a_server_error`); the other checks' findings (responses that do not
//! match the document) are printed and listed in `docs/abuse-testing.md`.

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};

use super::service::{PROVIDERS, Service, json_string};
use super::workspace_root;

const DEFAULT_MAX_EXAMPLES: u32 = 50;
const VENV: &str = "target/schemathesis-venv";
/// schemathesis 4 changed the command line; the flags below are 4.x's.
const REQUIREMENT: &str = "schemathesis>=4.1,<5";
/// One account per run: a run may lock its account out (schemathesis sends
/// wrong passwords for the usernames it learns) or log its session out.
const USERNAMES: [&str; 2] = ["schema.gate", "schema.checks"];
const PASSWORD: &str = "Quartz-Harbor-71-Lantern";

pub fn run(args: &[&str]) -> ExitCode {
    let max_examples = match crate::optional_number::<u32>(
        "schemathesis",
        "MAX_EXAMPLES",
        args,
        DEFAULT_MAX_EXAMPLES,
        1,
    ) {
        Ok(n) => n,
        Err(code) => return code,
    };
    match test(max_examples) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask schemathesis: {message}");
            ExitCode::FAILURE
        }
    }
}

fn test(max_examples: u32) -> Result<ExitCode, String> {
    let root = workspace_root();
    let schemathesis = install(root)?;
    let service = Service::start("schemathesis", &[])?;
    for (provider, username) in PROVIDERS.iter().zip(USERNAMES) {
        service.register_account(provider, username, PASSWORD)?;
    }
    let report_dir = service.dir().join("report");
    let url = format!("{}/api/v1/openapi.json", service.base_url());

    // The gate: no server error, whatever the input.
    eprintln!("\n==> [schemathesis] not_a_server_error, {max_examples} examples per operation");
    let gate = Command::new(&schemathesis)
        // In the service's folder: schemathesis keeps a `.schemathesis` cache there.
        .current_dir(service.dir())
        .args(["run", &url, "--checks", "not_a_server_error"])
        .args(common_args(
            max_examples,
            &session(&service, USERNAMES[0])?,
            &report_dir.join("gate"),
        ))
        .status()
        .map_err(|e| format!("running schemathesis: {e}"))?;

    // Every other check, reported: where answers and the document disagree.
    // Another account: the first run may have locked its own out.
    eprintln!("\n==> [schemathesis] every check (conformance findings are reported, not fatal)");
    let all = Command::new(&schemathesis)
        // In the service's folder: schemathesis keeps a `.schemathesis` cache there.
        .current_dir(service.dir())
        .args(["run", &url, "--checks", "all"])
        .args(common_args(
            max_examples,
            &session(&service, USERNAMES[1])?,
            &report_dir.join("all"),
        ))
        .status()
        .map_err(|e| format!("running schemathesis: {e}"))?;

    // The service's own count, which also sees what schemathesis did not report.
    let (_, metrics) = service.request("GET", "/metrics", None)?;
    let server_errors = server_errors(&metrics);
    #[allow(clippy::print_stdout, reason = "the summary is the command's output")]
    {
        println!("\n| run | result |");
        println!("| --- | --- |");
        println!(
            "| not_a_server_error | {} |",
            if gate.success() {
                "ok: no 5xx"
            } else {
                "FAILED"
            }
        );
        println!(
            "| all checks | {} |",
            if all.success() {
                "ok"
            } else {
                "findings (see above)"
            }
        );
        println!(
            "| 5xx answers counted by the service (/metrics) | {} |",
            if server_errors.is_empty() {
                "none".to_owned()
            } else {
                server_errors.join(", ")
            }
        );
    }
    Ok(if gate.success() && server_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The `http_requests_total` series of the Prometheus text with a 5xx
/// status and a non-zero count, as `SERIES = COUNT`.
fn server_errors(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|line| line.starts_with("http_requests_total{") && line.contains("status=\"5"))
        .filter_map(|line| {
            let (series, count) = line.rsplit_once(' ')?;
            let count: f64 = count.parse().ok()?;
            (count > 0.0).then(|| format!("{series} = {count}"))
        })
        .collect()
}

/// A fresh session token of a test account.
fn session(service: &Service, username: &str) -> Result<String, String> {
    let (status, body) = service.request(
        "POST",
        "/api/v1/sessions",
        Some(&format!(
            r#"{{"username":"{username}","password":"{PASSWORD}"}}"#
        )),
    )?;
    json_string(&body, "token")
        .filter(|_| status == 201)
        .ok_or_else(|| format!("login for a session failed: {status} {body}"))
}

/// The flags both runs share.
fn common_args(max_examples: u32, token: &str, report_dir: &Path) -> Vec<String> {
    vec![
        "--max-examples".into(),
        max_examples.to_string(),
        "--header".into(),
        format!("Authorization: Bearer {token}"),
        "--workers".into(),
        "2".into(),
        "--seed".into(),
        "1".into(),
        "--report".into(),
        "junit".into(),
        "--report-dir".into(),
        report_dir.display().to_string(),
        "--no-color".into(),
    ]
}

/// The schemathesis executable in the virtualenv, installed when missing.
fn install(root: &Path) -> Result<std::path::PathBuf, String> {
    let venv = root.join(VENV);
    let schemathesis = venv.join("bin").join("schemathesis");
    if !schemathesis.exists() {
        eprintln!("xtask: installing {REQUIREMENT} from PyPI into {VENV}");
        let _ = fs::remove_dir_all(&venv);
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| format!("python3 -m venv: {e}"))?;
        if !created.success() {
            return Err(format!("python3 -m venv failed: {created}"));
        }
        let installed = Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", REQUIREMENT])
            .status()
            .map_err(|e| format!("pip install: {e}"))?;
        if !installed.success() {
            return Err(format!("pip install {REQUIREMENT} failed: {installed}"));
        }
    }
    let version = Command::new(&schemathesis)
        .arg("--version")
        .output()
        .map_err(|e| format!("schemathesis --version: {e}"))?;
    eprintln!("xtask: {}", String::from_utf8_lossy(&version.stdout).trim());
    Ok(schemathesis)
}

#[cfg(test)]
mod tests {
    use super::server_errors;

    #[test]
    fn counts_server_errors_from_metrics() {
        let metrics = "# TYPE http_requests counter\n\
            http_requests_total{method=\"POST\",route=\"/api/v1/sessions\",status=\"401\"} 7\n\
            http_requests_total{method=\"POST\",route=\"/api/v1/registrations\",status=\"500\"} 2\n\
            http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 0\n";
        assert_eq!(
            server_errors(metrics),
            vec![
                "http_requests_total{method=\"POST\",route=\"/api/v1/registrations\",status=\"500\"} = 2"
                    .to_owned()
            ]
        );
        assert!(server_errors("").is_empty());
    }
}
