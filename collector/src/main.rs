//! The `lookout` binary: `lookout [agent]`, `lookout check config FILE`, `lookout --version`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout_collector::agent::{self, AgentOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "lookout",
    version,
    about = "Kubernetes observability agent: scrape, store, query, alert"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    agent: AgentArgs,
}

#[derive(clap::Args, Debug, Clone)]
struct AgentArgs {
    /// Configuration file (Prometheus-compatible YAML). Without it, the embedded default runs.
    #[arg(long, global = true, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
    /// Where the stores keep their data.
    #[arg(
        long = "data-dir",
        global = true,
        default_value = "./data",
        env = "LOOKOUT_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// Address of the HTTP API (host:port).
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:9470",
        env = "LOOKOUT_LISTEN"
    )]
    listen: String,
    /// Log level or filter (e.g. `info`, `debug`, `lookout_collector=debug`); RUST_LOG wins.
    #[arg(long = "log-level", global = true, default_value = "info")]
    log_level: String,
    /// Kubeconfig for Kubernetes discovery (else `KUBECONFIG`, else in-cluster credentials).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// This agent's node (else `NODE_NAME`): it scrapes only that node's share of targets.
    #[arg(long = "node-name", global = true)]
    node_name: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the agent (the default).
    Agent,
    /// Check configuration files.
    Check {
        #[command(subcommand)]
        what: CheckCmd,
    },
    /// Run tests.
    Test {
        #[command(subcommand)]
        what: TestCmd,
    },
}

#[derive(Subcommand, Debug)]
enum TestCmd {
    /// Run rule unit tests in `promtool test rules` format; exits non-zero on failures.
    Rules {
        /// The test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum CheckCmd {
    /// Validate a configuration file; exits non-zero on errors.
    Config {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate rule files (Prometheus rule files or PrometheusRule objects), like
    /// `promtool check rules`; exits non-zero on errors.
    Rules {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn init_logging(a: &AgentArgs) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&a.log_level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if a.log_format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

/// Bounds glibc's allocator for a long-running agent: at most two malloc arenas (glibc's
/// default is eight per core, one per busy thread, and each keeps the memory it once held:
/// the log indexer, merges and the tokio workers each grew their own), and a fixed mmap
/// threshold of 1 MiB so large buffers (tantivy's 1 MiB indexing pages, flushed segments'
/// tables) go back to the system when freed instead of raising the threshold and staying in
/// an arena. `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the environment win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads start.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: as above.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc() {}

fn main() -> ExitCode {
    bound_malloc();
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Check {
            what: CheckCmd::Config { files },
        }) => check_config(&files),
        Some(Cmd::Check {
            what: CheckCmd::Rules { files },
        }) => check_rules(&files),
        Some(Cmd::Test {
            what: TestCmd::Rules { files },
        }) => test_rules(&files),
        Some(Cmd::Agent) | None => {
            init_logging(&cli.agent);
            match run_agent(cli.agent) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("lookout: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        match lookout_config::load_file(f) {
            Ok(c) => println!(
                "Checking {}\n  SUCCESS: {} scrape configs found",
                f.display(),
                c.scrape_configs.len()
            ),
            Err(e) => {
                ok = false;
                println!("Checking {}\n  FAILED: {e}", f.display());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_rules(files: &[PathBuf]) -> ExitCode {
    let check = |t: &str| lookout_query::template::check_syntax(t);
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        let res = std::fs::read_to_string(f)
            .map_err(|e| format!("{}: {e}", f.display()))
            .and_then(|text| {
                let origin = f.display().to_string();
                let is_object = text
                    .lines()
                    .any(|l| l.trim_start().starts_with("kind: PrometheusRule"));
                if is_object {
                    lookout_config::rules::parse_prometheus_rule(&text, &origin, &check)
                } else {
                    lookout_config::rules::parse_rule_file(&text, &origin, &check)
                }
                .map_err(|e| e.to_string())
            });
        match res {
            Ok(rf) => println!("  SUCCESS: {} rules found", rf.rule_count()),
            Err(e) => {
                ok = false;
                println!("  FAILED:\n{e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn test_rules(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        match lookout_query::rules::unittest::run_file(f) {
            Ok(fails) if fails.is_empty() => println!("  SUCCESS\n"),
            Ok(fails) => {
                ok = false;
                println!("  FAILED:");
                for x in fails {
                    println!("{x}");
                }
                println!();
            }
            Err(e) => {
                ok = false;
                println!("  FAILED:\n    {e}\n");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_agent(a: AgentArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lookout")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(agent::run(AgentOptions {
        config_path: a.config,
        data_dir: a.data_dir,
        listen: a.listen,
        kube: lookout_collector::discovery::kubernetes::Flags {
            kubeconfig: a.kubeconfig,
            node_name: a.node_name,
            sa_dir: None,
        },
    }))?;
    Ok(())
}
