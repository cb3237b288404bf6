//! `portal-http`: the Provider Portal service and its operator commands.

use std::process::ExitCode;

use clap::Parser;
use portal_http::cli::{Cli, Command};
use portal_http::config::Config;
use portal_http::schema::{self, SchemaError};
use portal_http::state::{AppState, Database};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("portal-http: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    portal_http::telemetry::init(config.log_format, std::io::stderr);
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    let database = match Database::connect(&config.database).await {
        Ok(database) => database,
        Err(error) => {
            eprintln!("portal-http: DATABASE_URL: {error}");
            return command.failure_code();
        }
    };
    match schema::prepare(&database, command.start()).await {
        Ok(()) => {}
        Err(SchemaError::Refused(refusal)) => {
            eprintln!("portal-http: {refusal}");
            return ExitCode::from(2);
        }
        Err(SchemaError::Database(error)) => {
            eprintln!("portal-http: DATABASE_URL: {error}");
            return command.failure_code();
        }
    }
    let state = match AppState::new(config, database) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("portal-http: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve { demo } => portal_http::serve::run(state, demo).await,
        command => {
            portal_http::cli::run(
                &state,
                command,
                &mut std::io::stdout(),
                &mut std::io::stdin().lock(),
            )
            .await
        }
    }
}
