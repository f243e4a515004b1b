use clap::Parser;
use gatehouse::app::logging::{init_logging, LogRole};
use gatehouse::cli::Command;
use gatehouse::config::LogConfig;

fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    // The configuration decides how logs look, so it is read first; a configuration that
    // cannot be read is reported on standard error directly.
    let config = if cli.command.needs_configuration() {
        match gatehouse::cli::load_config(&cli) {
            Ok(config) => Some(config),
            Err(error) => {
                eprintln!("error: {error:#}");
                return std::process::ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let role = match cli.command {
        Command::Serve | Command::Migrate(_) => LogRole::Server,
        _ => LogRole::Command,
    };
    let default_log = LogConfig::default();
    init_logging(config.as_ref().map_or(&default_log, |config| &config.log), role);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gatehouse::cli::run(cli, config)) {
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
