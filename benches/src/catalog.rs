//! The metric families that synthetic targets expose (see [`crate::exposition`]).
//!
//! Layout for a requested series count `n`:
//! 1. the node-exporter-like core (~185 series: CPU seconds by cpu×mode, load, memory, network
//!    and disk counters by device, filesystems, an HTTP and a gRPC latency histogram, request
//!    counters, process metrics), family by family while each whole family still fits;
//! 2. cAdvisor-like per-container families (10 series per container, 5–6 labels each:
//!    `container`, `id`, `image`, `namespace`, `pod`, and `interface` for network) for as many
//!    containers as fit;
//! 3. a gauge family that tops the count up to exactly `n`.
//!
//! Invariant: the returned families hold exactly `n` series in total. Cost: built once per
//! process; allocation here is irrelevant to the scrape path.

use crate::exposition::{FamilyDef, SeriesDef};

type Labels = Vec<(&'static str, String)>;

const CPUS: usize = 4;
const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.70),
    ("iowait", 0.01),
    ("irq", 0.0),
    ("nice", 0.0),
    ("softirq", 0.005),
    ("steal", 0.002),
    ("system", 0.05),
    ("user", 0.2),
];
const NET_DEVICES: [&str; 4] = ["cni0", "eth0", "eth1", "lo"];
const DISKS: [&str; 3] = ["nvme0n1", "sda", "sdb"];
const MOUNTS: [(&str, &str, &str); 4] = [
    ("/dev/nvme0n1p1", "ext4", "/"),
    ("/dev/nvme0n1p2", "ext4", "/var/lib/kubelet"),
    ("/dev/sda1", "xfs", "/var/lib/containerd"),
    ("tmpfs", "tmpfs", "/run"),
];
const LATENCY_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const GRPC_BOUNDS: [f64; 7] = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0];
const HANDLERS: [&str; 3] = ["/api/v1/query", "/api/v1/query_range", "/metrics"];

/// Series per container in the cAdvisor-like part.
const PER_CONTAINER: usize = 10;

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn family(name: &str, help: &'static str, kind: &'static str, series: Vec<SeriesDef>) -> FamilyDef {
    FamilyDef {
        name: name.to_owned(),
        help,
        kind,
        series,
    }
}

/// The node-exporter-like core, in exposition order.
fn core() -> Vec<FamilyDef> {
    let mut fams = Vec::new();

    let mut cpu = Vec::new();
    for c in 0..CPUS {
        for (mode, rate) in CPU_MODES {
            let l = labels(&[("cpu", &c.to_string()), ("mode", mode)]);
            cpu.push(SeriesDef::counter(
                "node_cpu_seconds_total",
                l,
                2,
                rate * 200_000.0,
                rate,
            ));
        }
    }
    fams.push(family(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
        "counter",
        cpu,
    ));

    for (name, rel) in [
        ("node_load1", 0.3),
        ("node_load5", 0.15),
        ("node_load15", 0.05),
    ] {
        let s = vec![SeriesDef::gauge(name, vec![], 2, 1.2, rel)];
        fams.push(family(name, "Load average.", "gauge", s));
    }
    for (field, base, rel) in [
        ("MemTotal", 16.0e9, 0.0),
        ("MemAvailable", 9.0e9, 0.05),
        ("MemFree", 2.0e9, 0.1),
        ("Cached", 5.0e9, 0.02),
        ("Buffers", 3.0e8, 0.01),
    ] {
        let name = format!("node_memory_{field}_bytes");
        let s = vec![SeriesDef::gauge(&name, vec![], 0, base, rel)];
        fams.push(family(
            &name,
            "Memory information field from /proc/meminfo.",
            "gauge",
            s,
        ));
    }

    for dir in ["receive", "transmit"] {
        for (what, start, rate) in [
            ("bytes", 5.0e10, 2.0e5),
            ("packets", 6.0e7, 300.0),
            ("errs", 0.0, 0.0),
            ("drop", 40.0, 0.01),
        ] {
            let name = format!("node_network_{dir}_{what}_total");
            let s = NET_DEVICES
                .iter()
                .map(|d| SeriesDef::counter(&name, labels(&[("device", d)]), 0, start, rate))
                .collect();
            fams.push(family(&name, "Network device statistic.", "counter", s));
        }
    }
    for (name, v, help) in [
        (
            "node_network_up",
            1.0,
            "Value is 1 if operstate is 'up', 0 otherwise.",
        ),
        (
            "node_network_mtu_bytes",
            1500.0,
            "Network device property: mtu_bytes.",
        ),
    ] {
        let s = NET_DEVICES
            .iter()
            .map(|d| SeriesDef::constant(name, labels(&[("device", d)]), v))
            .collect();
        fams.push(family(name, help, "gauge", s));
    }

    for (what, dec, start, rate) in [
        ("read_bytes", 0, 2.0e10, 5.0e4),
        ("written_bytes", 0, 8.0e10, 3.0e5),
        ("reads_completed", 0, 1.0e6, 3.0),
        ("writes_completed", 0, 9.0e6, 40.0),
        ("io_time_seconds", 3, 5.0e4, 0.02),
    ] {
        let name = format!("node_disk_{what}_total");
        let s = DISKS
            .iter()
            .map(|d| SeriesDef::counter(&name, labels(&[("device", d)]), dec, start, rate))
            .collect();
        fams.push(family(
            &name,
            "Disk statistic from /proc/diskstats.",
            "counter",
            s,
        ));
    }

    for (what, base, rel) in [
        ("avail_bytes", 6.0e10, 0.001),
        ("size_bytes", 1.0e11, 0.0),
        ("files_free", 5.0e6, 0.0005),
    ] {
        let name = format!("node_filesystem_{what}");
        let s = MOUNTS
            .iter()
            .map(|(dev, fs, mp)| {
                let l = labels(&[("device", dev), ("fstype", fs), ("mountpoint", mp)]);
                SeriesDef::gauge(&name, l, 0, base, rel)
            })
            .collect();
        fams.push(family(&name, "Filesystem statistic.", "gauge", s));
    }

    let mut lat = Vec::new();
    for (i, h) in HANDLERS.iter().enumerate() {
        let l = labels(&[("code", "200"), ("handler", h), ("method", "GET")]);
        let median = [0.04, 0.2, 0.008][i];
        lat.extend(SeriesDef::histogram(
            "http_request_duration_seconds",
            l,
            &LATENCY_BOUNDS,
            median,
            2.0,
        ));
    }
    fams.push(family(
        "http_request_duration_seconds",
        "Latency of HTTP requests.",
        "histogram",
        lat,
    ));

    let mut reqs = Vec::new();
    for h in HANDLERS {
        for method in ["GET", "POST"] {
            for (code, rate) in [("200", 2.0), ("500", 0.001)] {
                let l = labels(&[("code", code), ("handler", h), ("method", method)]);
                reqs.push(SeriesDef::counter(
                    "http_requests_total",
                    l,
                    0,
                    rate * 50_000.0,
                    rate,
                ));
            }
        }
    }
    fams.push(family(
        "http_requests_total",
        "HTTP requests by handler, method and code.",
        "counter",
        reqs,
    ));

    let mut grpc = Vec::new();
    for (m, median) in [("Check", 0.003), ("Watch", 0.4)] {
        let l = labels(&[
            ("grpc_method", m),
            ("grpc_service", "grpc.health.v1.Health"),
            ("grpc_type", "unary"),
        ]);
        grpc.extend(SeriesDef::histogram(
            "grpc_server_handling_seconds",
            l,
            &GRPC_BOUNDS,
            median,
            5.0,
        ));
    }
    fams.push(family(
        "grpc_server_handling_seconds",
        "gRPC handling latency.",
        "histogram",
        grpc,
    ));

    fams.push(family(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        "counter",
        vec![SeriesDef::counter(
            "process_cpu_seconds_total",
            vec![],
            2,
            3000.0,
            0.02,
        )],
    ));
    for (name, base, rel, help) in [
        (
            "process_resident_memory_bytes",
            2.5e7,
            0.02,
            "Resident memory size in bytes.",
        ),
        (
            "process_open_fds",
            12.0,
            0.1,
            "Number of open file descriptors.",
        ),
        (
            "process_start_time_seconds",
            1.7e9,
            0.0,
            "Start time of the process since unix epoch in seconds.",
        ),
    ] {
        fams.push(family(
            name,
            help,
            "gauge",
            vec![SeriesDef::gauge(name, vec![], 0, base, rel)],
        ));
    }
    fams
}

/// Labels of the `c`-th synthetic container: (container, id, image, namespace, pod).
fn container_labels(c: usize) -> Labels {
    const APPS: [&str; 7] = [
        "api",
        "worker",
        "frontend",
        "cache",
        "db-proxy",
        "scheduler",
        "ingest",
    ];
    const NAMESPACES: [&str; 6] = [
        "default",
        "kube-system",
        "monitoring",
        "payments",
        "web",
        "batch",
    ];
    let app = APPS[c % APPS.len()];
    let h = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let pod = format!(
        "{app}-{:09x}-{:05x}",
        (h >> 20) & 0xf_ffff_ffff,
        (h >> 4) & 0xf_ffff
    );
    let container = if c % 3 == 2 { "istio-proxy" } else { app };
    vec![
        ("container", container.to_owned()),
        (
            "id",
            format!("/kubepods/burstable/pod{:016x}/{:012x}", h, h >> 16),
        ),
        ("image", format!("registry.example/{app}:v1.{}.3", c % 20)),
        ("namespace", NAMESPACES[c % NAMESPACES.len()].to_owned()),
        ("pod", pod),
    ]
}

/// The cAdvisor-like families for `n` containers; each family has `n` series.
fn containers(n: usize) -> Vec<FamilyDef> {
    let mut fams = Vec::new();
    let net = |c: usize| {
        let mut l = container_labels(c);
        l.insert(3, ("interface", "eth0".to_owned()));
        l
    };
    let counters: [(&str, &str, u8, f64, f64, bool); 6] = [
        (
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed.",
            3,
            2.0e4,
            0.1,
            false,
        ),
        (
            "container_network_receive_bytes_total",
            "Cumulative bytes received.",
            0,
            1.0e9,
            5.0e3,
            true,
        ),
        (
            "container_network_transmit_bytes_total",
            "Cumulative bytes transmitted.",
            0,
            8.0e8,
            4.0e3,
            true,
        ),
        (
            "container_fs_reads_bytes_total",
            "Cumulative bytes read.",
            0,
            3.0e8,
            100.0,
            false,
        ),
        (
            "container_fs_writes_bytes_total",
            "Cumulative bytes written.",
            0,
            6.0e8,
            800.0,
            false,
        ),
        (
            "container_oom_events_total",
            "Count of out of memory events.",
            0,
            0.0,
            0.0,
            false,
        ),
    ];
    for (name, help, dec, start, rate, is_net) in counters {
        let s = (0..n)
            .map(|c| {
                let l = if is_net { net(c) } else { container_labels(c) };
                SeriesDef::counter(name, l, dec, start, rate)
            })
            .collect();
        fams.push(family(name, help, "counter", s));
    }
    let gauges: [(&str, &str, f64, f64); 4] = [
        (
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            2.0e8,
            0.03,
        ),
        ("container_memory_rss", "Size of RSS in bytes.", 1.5e8, 0.02),
        (
            "container_threads",
            "Number of threads running inside the container.",
            20.0,
            0.05,
        ),
        (
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            5.0e8,
            0.0,
        ),
    ];
    for (name, help, base, rel) in gauges {
        let s = (0..n)
            .map(|c| SeriesDef::gauge(name, container_labels(c), 0, base, rel))
            .collect();
        fams.push(family(name, help, "gauge", s));
    }
    debug_assert_eq!(fams.len(), PER_CONTAINER);
    fams
}

/// Tops the count up: `n` gauge series of a queue-depth family.
fn filler(n: usize) -> FamilyDef {
    let s = (0..n)
        .map(|i| {
            let l = labels(&[
                ("queue", &format!("q-{i}")),
                ("region", "eu-west-1"),
                ("shard", &(i % 4).to_string()),
            ]);
            SeriesDef::gauge("app_queue_depth", l, 0, 500.0, 0.2)
        })
        .collect();
    family(
        "app_queue_depth",
        "Messages waiting in the queue.",
        "gauge",
        s,
    )
}

/// Families holding exactly `n` series in total, laid out as in the module header.
pub(crate) fn families(n: usize) -> Vec<FamilyDef> {
    let mut out = Vec::new();
    let mut left = n;
    for fam in core() {
        if fam.series.len() <= left {
            left -= fam.series.len();
            out.push(fam);
        }
    }
    let c = left / PER_CONTAINER;
    if c > 0 {
        out.extend(containers(c));
        left -= c * PER_CONTAINER;
    }
    if left > 0 {
        out.push(filler(left));
    }
    SeriesDef::assign_keys(&mut out);
    out
}
