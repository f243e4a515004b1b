use std::io::IsTerminal;

use clap::Parser;
use gatehouse::cli::Command;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    // The server logs what it does; one-shot commands (clients, keys, ldap test...) print
    // their answer and log only warnings, so scripts read clean output.
    let default_level = match cli.command {
        Command::Serve | Command::Migrate(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gatehouse::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if error.is::<gatehouse::cli::MigrationsPending>() => {
            eprintln!("{error}");
            std::process::ExitCode::from(gatehouse::cli::MIGRATIONS_PENDING_EXIT_CODE)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
