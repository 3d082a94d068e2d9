//! `fake_targets`: N synthetic Prometheus scrape targets of M series each, served from one
//! process on loopback, for the scrape + append comparison (`benches/scripts/`).
//!
//! Prints `ready` on stdout once every listener is bound; runs until SIGTERM or Ctrl-C, then
//! prints the scrapes served to stderr. See `lookout_benches::target_server` for the HTTP side
//! and `lookout_benches::exposition` for the payloads.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use lookout_benches::exposition::Payload;
use lookout_benches::target_server::{self, AddrMode, Server};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// One IP (`--ip`, default 127.0.0.1), ports BASE..BASE+N.
    Ports,
    /// Consecutive loopback IPs from `--ip` (default 127.1.0.1), all on port BASE.
    Ips,
}

/// Serve synthetic Prometheus scrape targets on loopback.
#[derive(Debug, Parser)]
#[command(name = "fake_targets")]
struct Args {
    /// Number of targets.
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    /// Series (sample lines) per target.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// How each target gets its own address.
    #[arg(long, value_enum, default_value_t = Mode::Ports)]
    addr_mode: Mode,
    /// First (or only) IP; must be a loopback address.
    #[arg(long)]
    ip: Option<Ipv4Addr>,
    /// First port (ports mode) or the port of every target (ips mode).
    #[arg(long, default_value_t = 20000)]
    base_port: u16,
    /// Seed for the per-target value jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runtime worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the target addresses (`host:port`, one a line) to this file before `ready`.
    #[arg(long)]
    targets_file: Option<PathBuf>,
    /// Print the body of this target (at t = 0) to stdout and exit, without serving.
    #[arg(long)]
    dump: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake_targets: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let payload = Payload::new(args.series, args.seed);
    if let Some(t) = args.dump {
        let mut out = Vec::new();
        payload.render(t, 0.0, &mut out);
        use std::io::Write as _;
        return std::io::stdout()
            .write_all(&out)
            .map_err(|e| format!("writing dump: {e}"));
    }
    let (mode, default_ip) = match args.addr_mode {
        Mode::Ports => (AddrMode::Ports, Ipv4Addr::LOCALHOST),
        Mode::Ips => (AddrMode::Ips, Ipv4Addr::new(127, 1, 0, 1)),
    };
    let ip = args.ip.unwrap_or(default_ip);
    if !ip.is_loopback() {
        return Err(format!("--ip {ip} is not a loopback address"));
    }
    let addrs = target_server::target_addrs(mode, ip, args.base_port, args.targets)?;
    let mut sample = Vec::new();
    payload.render(0, 0.0, &mut sample);
    eprintln!(
        "fake_targets: {} targets x {} series ({} families, {} bytes per scrape), {} .. {}",
        addrs.len(),
        payload.series(),
        payload.families(),
        sample.len(),
        addrs.first().map(ToString::to_string).unwrap_or_default(),
        addrs.last().map(ToString::to_string).unwrap_or_default(),
    );

    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("starting runtime: {e}"))?;

    runtime.block_on(async move {
        let mut listeners = Vec::with_capacity(addrs.len());
        for a in &addrs {
            let l = tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| format!("binding {a}: {e}"))?;
            listeners.push(l);
        }
        if let Some(path) = &args.targets_file {
            let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
            std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        // Lives as long as the process; every connection task borrows it.
        let server: &'static Server = Box::leak(Box::new(Server::new(payload, addrs.len())));
        for (i, l) in listeners.into_iter().enumerate() {
            let target = u32::try_from(i).map_err(|_| "more than 2^32 targets".to_owned())?;
            tokio::spawn(target_server::serve(l, target, server));
        }
        println!("ready");
        shutdown_signal().await;
        let (requests, seen) = server.stats();
        eprintln!(
            "fake_targets: stopping; {requests} scrapes served to {seen} targets since last reset"
        );
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
