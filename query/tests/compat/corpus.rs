//! The query corpus, by category. `{tNN}` stands for the Unix time (seconds) NN minutes after
//! the start of the data.

pub fn corpus() -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    let mut add = |c: &'static str, s: &str| q.push((c, s.to_string()));

    for s in [
        "http_requests_total",
        "http_requests_total{job=\"api\"}",
        "http_requests_total{job=~\"a.*\",method!=\"post\"}",
        "http_requests_total{job!~\"api|db\"}",
        "{__name__=~\"cpu_.*\"}",
        "{__name__=\"mixed\"}",
        "mixed{a=\"1\"}",
        "mixed{b=\"\"}",
        "mixed{a=~\".+\"}",
        "nonexistent_metric",
        "cpu_usage{mode=\"user\"}",
        "temperature",
        "up",
        "build_info",
        "request_duration_seconds_bucket{job=\"api\"}",
        "(cpu_usage)",
        "cpu_usage[5m]",
        "temperature[2m]",
        "{__name__=~\"gappy|memory_bytes\"}",
    ] {
        add("selectors", s);
    }
    for s in [
        "memory_bytes",
        "gappy",
        "memory_bytes offset 5m",
        "gappy offset 10m",
        "count_over_time(memory_bytes[10m])",
        "last_over_time(memory_bytes[10m])",
        "memory_bytes[15m]",
        "gappy[6m]",
        "count_over_time(gappy[5m])",
        "absent(memory_bytes{instance=\"i1\"})",
        "absent_over_time(memory_bytes{instance=\"i1\"}[2m])",
        "present_over_time(gappy[3m])",
    ] {
        add("staleness", s);
    }
    for s in [
        "http_requests_total offset 5m",
        "http_requests_total{job=\"api\"} offset -5m",
        "cpu_usage @ {t20}",
        "rate(http_requests_total[5m] @ {t30})",
        "sum(http_requests_total @ end())",
        "http_requests_total @ start()",
        "rate(http_requests_total[5m] offset 10m)",
        "max_over_time(cpu_usage[10m] @ {t40} offset 2m)",
        "cpu_usage @ {t20} offset 1m",
        "sum by (job) (rate(http_requests_total[5m] @ end()))",
        "time() - timestamp(cpu_usage offset 1m)",
        "cpu_usage - cpu_usage @ start()",
    ] {
        add("offset_at", s);
    }
    for s in [
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
        "avg_over_time(cpu_usage[10m:30s])",
        "min_over_time(sum by (job) (http_requests_total)[15m:])",
        "rate(http_requests_total[10m:1m])",
        "max_over_time(cpu_usage[10m:1m] offset 5m)",
        "sum_over_time(up[20m:2m] @ {t50})",
        "quantile_over_time(0.9, rate(http_requests_total[2m])[20m:1m])",
        "deriv(sum(cpu_usage)[10m:1m])",
        "max_over_time(max_over_time(cpu_usage[5m:1m])[15m:5m])",
        "count_over_time(gappy[20m:1m])",
        "sum(up)[10m:2m]",
        "last_over_time(temperature[7m:45s])",
        "changes(round(cpu_usage / 10)[10m:1m])",
        "avg_over_time(time()[5m:1m])",
    ] {
        add("subquery", s);
    }
    for f in [
        "rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
    ] {
        for s in [
            "http_requests_total",
            "cpu_usage",
            "memory_bytes",
            "temperature",
            "gappy",
        ] {
            for w in ["1m", "5m"] {
                add("rate_family", &format!("{f}({s}[{w}])"));
            }
        }
    }
    for s in ["http_requests_total", "cpu_usage", "gappy"] {
        add("rate_family", &format!("predict_linear({s}[5m], 600)"));
        add("rate_family", &format!("predict_linear({s}[10m], -60)"));
    }
    for f in [
        "avg", "min", "max", "sum", "count", "stddev", "stdvar", "last", "present",
    ] {
        for s in ["cpu_usage", "memory_bytes", "temperature", "gappy"] {
            for w in ["2m", "10m"] {
                add("over_time", &format!("{f}_over_time({s}[{w}])"));
            }
        }
    }
    for s in [
        "quantile_over_time(0.5, cpu_usage[10m])",
        "quantile_over_time(0.99, temperature[10m])",
        "quantile_over_time(0, cpu_usage[5m])",
        "quantile_over_time(1.5, cpu_usage[5m])",
        "quantile_over_time(-1, cpu_usage[5m])",
        "absent_over_time(nonexistent{job=\"x\"}[5m])",
        "absent_over_time(cpu_usage[5m])",
        "absent_over_time(gappy{instance=\"i0\"}[1m])",
    ] {
        add("over_time", s);
    }
    for op in [
        "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar",
    ] {
        for g in [
            "",
            " by (job)",
            " without (instance)",
            " by (instance, method)",
            " by ()",
        ] {
            add("aggregation", &format!("{op}{g} (http_requests_total)"));
        }
        add("aggregation", &format!("{op} by (mode) (cpu_usage)"));
        add("aggregation", &format!("{op}(temperature)"));
        add("aggregation", &format!("{op} without (a) (mixed)"));
    }
    for s in [
        "topk(3, http_requests_total)",
        "topk by (job) (1, http_requests_total)",
        "bottomk(2, cpu_usage)",
        "topk(2, temperature)",
        "bottomk(1, temperature)",
        "topk(0, up)",
        "topk(100, up)",
        "bottomk without (mode) (1, cpu_usage)",
        "quantile(0.9, cpu_usage)",
        "quantile by (mode) (0.5, cpu_usage)",
        "quantile(0, http_requests_total)",
        "quantile(1.5, http_requests_total)",
        "quantile(-0.5, http_requests_total)",
        "count_values(\"v\", up)",
        "count_values by (job) (\"v\", up)",
        "count_values without (instance) (\"value\", up)",
        "count_values(\"job\", up)",
        "topk(scalar(count(build_info)), cpu_usage)",
        "sum(topk(2, rate(http_requests_total[5m])))",
        "avg(cpu_usage) by (instance)",
        "sum by (__name__) ({__name__=~\"cpu_usage|temperature\"})",
    ] {
        add("topk_quantile", s);
    }
    for s in [
        "http_requests_total * 2",
        "2 * cpu_usage",
        "cpu_usage / 0",
        "cpu_usage % 7",
        "cpu_usage ^ 2",
        "-cpu_usage",
        "cpu_usage - cpu_usage",
        "cpu_usage + on(instance, mode) cpu_usage",
        "1 / temperature",
        "temperature * 0",
        "cpu_usage atan2 cpu_usage",
        "1 + 2 * 3",
        "2 ^ 3 ^ 2",
        "5 % 3",
        "1 / 0",
        "-1 / 0",
        "0 / 0",
        "time() - 60",
        "-(-(up))",
        "request_duration_seconds_sum / request_duration_seconds_count",
        "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
        "(cpu_usage - 50) * -1",
        "mixed + mixed",
        "mixed - on(a) mixed{a=\"1\", b=\"2\"}",
    ] {
        add("binary_arith", s);
    }
    for s in [
        "cpu_usage > 50",
        "cpu_usage > bool 50",
        "50 < cpu_usage",
        "50 > bool cpu_usage",
        "cpu_usage == cpu_usage",
        "cpu_usage != bool cpu_usage",
        "temperature >= 20",
        "temperature <= bool 20",
        "up == 1",
        "up != bool 1",
        "cpu_usage{mode=\"user\"} > on(instance) cpu_usage{mode=\"system\"}",
        "cpu_usage{mode=\"user\"} > bool ignoring(mode) cpu_usage{mode=\"system\"}",
        "1 == bool 1",
        "2 < bool 1",
        "http_requests_total > 100 < 500",
    ] {
        add("comparison", s);
    }
    for s in [
        "up and cpu_usage",
        "up and on(instance) cpu_usage",
        "cpu_usage or up",
        "cpu_usage unless on(instance) (up == 0)",
        "mixed or mixed{a=\"1\"}",
        "http_requests_total{job=\"api\"} or http_requests_total{method=\"get\"}",
        "gappy{instance=\"i0\"} or gappy{instance=\"i1\"}",
        "gappy{instance=\"i0\"} or on() vector(0)",
        "up and ignoring(job) build_info",
        "up unless up{job=\"api\"}",
        "memory_bytes unless on(instance) gappy",
        "(cpu_usage > 50) and on(instance, mode) (cpu_usage < 80)",
        "nonexistent_metric or up",
        "up and nonexistent_metric",
    ] {
        add("set_ops", s);
    }
    for s in [
        "http_requests_total / on(job, instance, method) http_requests_total offset 5m",
        "sum by (job, instance) (http_requests_total) / on(instance) group_left sum by (instance) (http_requests_total)",
        "up * on(instance) group_left(version) build_info",
        "build_info * on(instance) group_right(version) up",
        "up * on(instance) build_info",
        "up + ignoring(job) up",
        "cpu_usage / ignoring(mode) group_left sum without (mode) (cpu_usage)",
        "sum by (job) (rate(http_requests_total[5m])) / on(job) group_left sum by (job) (up)",
        "http_requests_total / ignoring(method) group_left sum without (method) (http_requests_total)",
        "mixed * on(a) group_left mixed",
        "mixed{a=\"1\"} + ignoring(b) mixed{b=\"2\"}",
        "up * on(instance) group_left(version, nolabel) build_info",
        "build_info * on(instance) up",
        "sum without (method) (http_requests_total) > on(job, instance) group_right sum by (job, instance, method) (http_requests_total)",
    ] {
        add("vector_matching", s);
    }
    for f in [
        "abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "round", "deg", "rad",
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh",
    ] {
        add("functions_math", &format!("{f}(cpu_usage - 50)"));
        add("functions_math", &format!("{f}(temperature / 30)"));
    }
    for s in [
        "round(cpu_usage, 5)",
        "round(cpu_usage, 0.1)",
        "clamp(cpu_usage, 20, 80)",
        "clamp_min(temperature, 20)",
        "clamp_max(cpu_usage, 30)",
        "clamp(cpu_usage, 80, 20)",
        "timestamp(cpu_usage)",
        "timestamp(memory_bytes offset 1m)",
        "timestamp(sum(cpu_usage))",
        "time()",
        "vector(time())",
        "scalar(up{job=\"db\",instance=\"i2\"})",
        "scalar(up)",
        "vector(1) + on() group_left up",
        "sort(cpu_usage)",
        "sort_desc(temperature)",
        "pi()",
        "exp(cpu_usage)",
        "absent(nonexistent{job=\"x\", instance=~\"a\"})",
        "absent(up)",
        "absent(nonexistent{job=\"x\", job=\"y\"})",
        "absent(sum(nonexistent))",
    ] {
        add("functions_misc", s);
    }
    for s in [
        "label_replace(up, \"host\", \"$1\", \"instance\", \"i(.*)\")",
        "label_replace(up, \"job\", \"\", \"job\", \".*\")",
        "label_replace(cpu_usage, \"foo\", \"${1}-$2\", \"instance\", \"(i)(\\\\d)\")",
        "label_replace(up, \"instance\", \"x\", \"nolabel\", \"\")",
        "label_replace(up, \"new\", \"$1x\", \"job\", \"(.*)\")",
        "label_replace(up, \"new\", \"$2\", \"job\", \"(.*)\")",
        "label_join(up, \"id\", \"/\", \"job\", \"instance\")",
        "label_join(cpu_usage, \"mode\", \"\")",
        "label_join(up, \"job\", \"-\", \"job\", \"job\")",
        "label_replace(up, \"1bad\", \"x\", \"job\", \".*\")",
        "label_replace(rate(http_requests_total[5m]), \"__name__\", \"renamed\", \"job\", \"api\")",
    ] {
        add("functions_label", s);
    }
    for f in [
        "hour",
        "minute",
        "month",
        "year",
        "day_of_month",
        "day_of_week",
        "days_in_month",
    ] {
        add("functions_time", &format!("{f}()"));
        add("functions_time", &format!("{f}(timestamp(up))"));
        add("functions_time", &format!("{f}(vector(1709214300))"));
    }
    for qv in ["0", "0.5", "0.9", "0.99", "1", "-1", "2"] {
        add(
            "histogram",
            &format!("histogram_quantile({qv}, rate(request_duration_seconds_bucket[5m]))"),
        );
    }
    for s in [
        "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.5, request_duration_seconds_bucket)",
        "histogram_quantile(0.5, sum by (job, le) (increase(request_duration_seconds_bucket[10m])))",
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket{le!=\"+Inf\"}[5m]))",
        "histogram_quantile(0.9, cpu_usage)",
        "histogram_quantile(0.75, rate(request_duration_seconds_bucket[1m]))",
        "histogram_quantile(scalar(up{job=\"api\",instance=\"i0\"}) * 0.5, request_duration_seconds_bucket)",
    ] {
        add("histogram", s);
    }
    for s in [
        "foo(",
        "sum(",
        "rate(cpu_usage)",
        "cpu_usage[5m] + 1",
        "label_replace(up, \"x\", \"y\", \"job\", \"(\")",
        "holt_winters(cpu_usage[5m], 2, 0.5)",
        "count_values(\"bad-label\", up)",
        "topk(NaN, up)",
        "{}",
        "{job=~\".*\"}",
        "up{job=\"a\"",
        "sum by (job) (up) / on(job) up",
        "1 +",
        "up offset",
        "rate(up[5m:1m:2m])",
        "up == on() group_left up",
    ] {
        add("errors", s);
    }
    q
}
