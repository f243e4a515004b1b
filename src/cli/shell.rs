//! `gatehouse completions SHELL` and `gatehouse manpage`: both generated from the clap
//! definitions in `cli.rs`, so they always match the commands.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Roff};

use super::Cli;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "gatehouse", &mut out);
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff, section 1) to standard output: the usual sections, then one
/// entry per command and subcommand (nested ones included) with its usage, description
/// and options, so one page documents everything.
pub fn manpage() -> anyhow::Result<()> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    describe_subcommands(&mut commands, &command, "gatehouse");
    commands.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)?;
    out.flush()?;
    Ok(())
}

fn describe_subcommands(roff: &mut Roff, parent: &clap::Command, path: &str) {
    for command in parent.get_subcommands().filter(|c| !c.is_hide_set()) {
        let path = format!("{path} {}", command.get_name());
        let mut usage = command.clone().bin_name(&path);
        let usage = usage.render_usage().to_string();
        let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage).to_string();
        roff.control("TP", []);
        roff.text([bold(usage)]);
        if let Some(about) = command.get_long_about().or(command.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        let arguments: Vec<_> = command
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set())
            .collect();
        if !arguments.is_empty() {
            roff.control("RS", []);
        }
        for arg in &arguments {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(long), Some(short)) => format!("-{short}, --{long}"),
                (Some(long), None) => format!("--{long}"),
                (None, Some(short)) => format!("-{short}"),
                (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
            };
            roff.control("TP", []);
            roff.text([italic(name)]);
            roff.text([roman(arg.get_help().map(|h| h.to_string()).unwrap_or_default())]);
        }
        if !arguments.is_empty() {
            roff.control("RE", []);
        }
        if command.has_subcommands() {
            describe_subcommands(roff, command, &path);
        }
    }
}
