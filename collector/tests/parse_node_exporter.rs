//! A realistic node-exporter payload (a small handcrafted excerpt in the
//! shape node_exporter 1.5 serves) parsed end to end: metadata, summaries,
//! colons in label values, exponent values, and the series-cache use.

use std::borrow::Cow;
use std::collections::HashMap;

use lookout_collector::parse::{Entry, Format, MetricType, Parser};

const PAYLOAD: &str = r##"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1471e-05
go_gc_duration_seconds{quantile="0.25"} 3.6733e-05
go_gc_duration_seconds{quantile="0.5"} 4.9232e-05
go_gc_duration_seconds{quantile="0.75"} 6.3871e-05
go_gc_duration_seconds{quantile="1"} 0.000232766
go_gc_duration_seconds_sum 0.002164497
go_gc_duration_seconds_count 39
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 8
# HELP go_info Information about the Go environment.
# TYPE go_info gauge
go_info{version="go1.19.8"} 1
# HELP go_memstats_buck_hash_sys_bytes Number of bytes used by the profiling bucket hash table.
# TYPE go_memstats_buck_hash_sys_bytes gauge
go_memstats_buck_hash_sys_bytes 1.446217e+06
# HELP node_boot_time_seconds Node boot time, in unixtime.
# TYPE node_boot_time_seconds gauge
node_boot_time_seconds 1.69898839e+09
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 172.73
node_cpu_seconds_total{cpu="0",mode="iowait"} 0.83
node_cpu_seconds_total{cpu="0",mode="system"} 8.07
node_cpu_seconds_total{cpu="0",mode="user"} 28.55
node_cpu_seconds_total{cpu="1",mode="idle"} 171.98
node_cpu_seconds_total{cpu="1",mode="user"} 29.4
# HELP node_disk_io_time_weighted_seconds_total The weighted # of seconds spent doing I/Os.
# TYPE node_disk_io_time_weighted_seconds_total counter
node_disk_io_time_weighted_seconds_total{device="vda"} 23.155
node_disk_io_time_weighted_seconds_total{device="zram0"} 0
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/vda",fstype="ext4",mountpoint="/"} 8.4829282304e+10
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 4.12446720e+08
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.21
# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
node_network_info{address="00:00:00:00:00:00",broadcast="00:00:00:00:00:00",device="lo",duplex="",ifalias="",operstate="unknown"} 1
node_network_info{address="02:fc:00:00:00:01",broadcast="ff:ff:ff:ff:ff:ff",device="eth0",duplex="unknown",ifalias="",operstate="up"} 1
# HELP node_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} 1.0538763e+07
node_network_receive_bytes_total{device="lo"} 0
# HELP node_scrape_collector_duration_seconds node_exporter: Duration of a collector scrape.
# TYPE node_scrape_collector_duration_seconds gauge
node_scrape_collector_duration_seconds{collector="arp"} 4.1828e-05
node_scrape_collector_duration_seconds{collector="dmi"} 4.4e-07
# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise
# TYPE node_textfile_scrape_error gauge
node_textfile_scrape_error 0
# HELP node_uname_info Labeled system information as provided by the uname system call.
# TYPE node_uname_info gauge
node_uname_info{domainname="(none)",machine="x86_64",nodename="worker-1",release="6.1.0-9-amd64",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)"} 1
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds 1.048576e+06
# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 3
promhttp_metric_handler_requests_total{code="500"} 0
promhttp_metric_handler_requests_total{code="503"} 0
"##;

fn entries() -> Vec<Entry<'static>> {
    Parser::new(PAYLOAD.as_bytes(), Format::Text)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn counts_and_metadata() {
    let entries = entries();
    let mut help = HashMap::new();
    let mut types = HashMap::new();
    let mut samples = 0;
    for e in &entries {
        match e {
            Entry::Help { metric, text } => {
                help.insert(metric.to_string(), text.to_string());
            }
            Entry::Type { metric, kind } => {
                types.insert(metric.to_string(), *kind);
            }
            Entry::Sample(_) => samples += 1,
            Entry::Unit { .. } => panic!("no UNIT in the text format"),
        }
    }
    assert_eq!(samples, 34);
    assert_eq!(help.len(), 16);
    assert_eq!(types.len(), 16);
    assert_eq!(types["go_gc_duration_seconds"], MetricType::Summary);
    assert_eq!(types["node_cpu_seconds_total"], MetricType::Counter);
    assert_eq!(types["node_load1"], MetricType::Gauge);
    assert_eq!(
        help["node_disk_io_time_weighted_seconds_total"],
        "The weighted # of seconds spent doing I/Os."
    );
    assert_eq!(
        help["node_network_info"],
        "Non-numeric data from /sys/class/net/<iface>, value is always 1."
    );
}

#[test]
fn sample_values_labels_and_types() {
    let entries = entries();
    let samples: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    let by_series: HashMap<&str, f64> = samples.iter().map(|s| (s.series(), s.value())).collect();
    assert_eq!(by_series.len(), samples.len(), "series keys are unique");
    assert_eq!(
        by_series["go_gc_duration_seconds{quantile=\"0.25\"}"],
        3.6733e-05
    );
    assert_eq!(by_series["go_gc_duration_seconds_count"], 39.0);
    assert_eq!(by_series["node_boot_time_seconds"], 1.69898839e9);
    assert_eq!(
        by_series["node_filesystem_avail_bytes{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"}"],
        84_829_282_304.0
    );
    assert_eq!(by_series["process_max_fds"], 1_048_576.0);
    assert_eq!(
        by_series["node_scrape_collector_duration_seconds{collector=\"dmi\"}"],
        4.4e-07
    );

    let info = samples
        .iter()
        .find(|s| s.series().starts_with("node_network_info{address=\"02:fc"))
        .unwrap_or_else(|| panic!("eth0 info"));
    let labels: Vec<(Cow<'_, str>, Cow<'_, str>)> = info.labels().collect();
    let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(
        names,
        [
            "address",
            "broadcast",
            "device",
            "duplex",
            "ifalias",
            "operstate"
        ]
    );
    assert_eq!(labels[1].1, "ff:ff:ff:ff:ff:ff");
    assert_eq!(labels[4].1, "");

    let uname = samples
        .iter()
        .find(|s| s.name() == "node_uname_info")
        .unwrap_or_else(|| panic!("uname"));
    let version = uname.labels().find(|(k, _)| k == "version").map(|(_, v)| v);
    assert_eq!(
        version.as_deref(),
        Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)")
    );

    for s in &samples {
        assert!(s.timestamp_ms().is_none());
        assert!(s.exemplar().is_none());
        assert!(
            s.metric_type().is_some(),
            "{} belongs to its # TYPE family",
            s.series()
        );
        assert!(!s.is_created());
    }
    let sum = samples
        .iter()
        .find(|s| s.series() == "go_gc_duration_seconds_sum")
        .and_then(|s| s.metric_type());
    assert_eq!(sum, Some(MetricType::Summary));
}

#[test]
fn series_cache_hits_on_second_scrape() {
    // First scrape fills a cache keyed by raw series bytes; a second scrape of
    // the same target with new values hits it for every sample.
    type Cached = (String, Vec<(String, String)>); // name, labels
    let mut cache: HashMap<Vec<u8>, Cached> = HashMap::new();
    let mut scratch = Vec::new();
    for entry in entries() {
        if let Entry::Sample(s) = entry {
            scratch.clear();
            s.labels_into(&mut scratch);
            let labels = scratch
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            cache.insert(s.series_bytes().to_vec(), (s.name().into_owned(), labels));
        }
    }
    let second = PAYLOAD
        .replace("} 1\n", "} 2\n")
        .replace("go_goroutines 8", "go_goroutines 9");
    let mut hits = 0;
    let mut total = 0;
    for entry in Parser::new(second.as_bytes(), Format::Text) {
        if let Ok(Entry::Sample(s)) = entry {
            total += 1;
            if let Some((name, _)) = cache.get(s.series_bytes()) {
                assert_eq!(*name, s.name());
                hits += 1;
            }
        }
    }
    assert_eq!((hits, total), (34, 34));
}

#[test]
fn same_payload_as_openmetrics() {
    // Every line of the excerpt is also valid OpenMetrics (single spaces, no
    // blank lines), so appending `# EOF` makes it an OpenMetrics body.
    let om = format!("{PAYLOAD}# EOF\n");
    let n = Parser::new(om.as_bytes(), Format::OpenMetrics)
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")))
        .filter(|e| matches!(e, Entry::Sample(_)))
        .count();
    assert_eq!(n, 34);
}
