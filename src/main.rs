use clap::Parser;
use gatehouse::app::logging::{init_logging, LogRole};
use gatehouse::cli::Command;

fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    // The configuration decides how logs look, so it is read first; a configuration that
    // cannot be read is reported on standard error directly.
    let config = match gatehouse::cli::load_config(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let role = match cli.command {
        Command::Serve | Command::Migrate => LogRole::Server,
        _ => LogRole::Command,
    };
    init_logging(&config.log, role);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gatehouse::cli::run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
