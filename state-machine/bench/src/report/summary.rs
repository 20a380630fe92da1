//! The report as the summary printed on the terminal.

use super::{per_s, Report};

/// The summary printed on the terminal.
pub(crate) fn summary(r: &Report) -> String {
    [
        header(r),
        ingest(r),
        transform(r),
        load(r),
        runs(r),
        peak_rss(r),
        pipeline(r),
    ]
    .concat()
}

/// The columns of the stages' lines.
fn header(r: &Report) -> String {
    format!(
        "\n{:<34} {:>12} {:>12} {:>8} {:>8} {:>8} {:>10} {:>7}\n",
        format!("stage (scale {})", r.scale),
        "rows/s",
        "ceiling/s",
        "MB/s",
        "wall s",
        "cpu s",
        "RSS MB",
        "ratio"
    )
}

/// `sales_order`'s ingest beside its COPY TO ceiling.
fn ingest(r: &Report) -> String {
    let i = &r.ingest;
    format!(
        "{:<34} {:>12} {:>12} {:>8.1} {:>8} {:>8.2} {:>10} {:>7}\n",
        format!("ingest sales_order ({} rows)", i.rows),
        per_s(i.rows, i.process.wall_s),
        per_s(i.rows, i.ceiling_wall_s),
        i.source_bytes as f64 / 1e6 / i.process.wall_s.max(f64::MIN_POSITIVE),
        i.process.wall_s,
        i.process.user_s + i.process.sys_s,
        i.process.peak_rss_kb / 1024,
        i.ratio_to_copy_to
    )
}

/// The first transform, DuckDB beside it (at its default memory and at the same), and a
/// no-change transform.
fn transform(r: &Report) -> String {
    let (i, t) = (&r.ingest, &r.transform);
    let mut out = String::new();
    out += &format!(
        "{:<34} {:>12} {:>12} {:>8} {:>8} {:>8.2} {:>10} {:>7}\n",
        format!("transform all models (fact_sales_order {})", i.rows),
        per_s(i.rows, t.process.wall_s),
        "-",
        "-",
        t.process.wall_s,
        t.process.user_s + t.process.sys_s,
        t.process.peak_rss_kb / 1024,
        "-"
    );
    if let (Some(wall), Some(ratio)) = (t.duckdb.duckdb_wall_s, t.duckdb.ratio_to_duckdb) {
        out += &format!(
            "{:<34} {} s; tote / DuckDB {}\n",
            "DuckDB, the same models", wall, ratio
        );
    }
    if let Some(m) = &t.same_memory {
        out += &format!(
            "{:<34} tote {} s, DuckDB {}; tote / DuckDB {}\n",
            format!("the same with {} MB each", m.memory_mb),
            m.process.wall_s,
            m.duckdb
                .duckdb_wall_s
                .map_or("not measured".into(), |s| format!("{s} s")),
            m.duckdb.ratio_to_duckdb.map_or("—".into(), |r| r.to_string())
        );
    }
    out += &format!("{:<34} {} s\n", "transform, no change", t.no_change_wall_s);
    out
}

/// `fact_sales_order`'s load beside its COPY FROM ceiling, and every batch's.
fn load(r: &Report) -> String {
    let l = &r.load;
    let mut out = String::new();
    out += &format!(
        "{:<34} {:>12} {:>12} {:>8} {:>8} {:>8} {:>10} {:>7}\n",
        format!("load fact_sales_order ({} rows)", l.fact_sales_order_rows),
        per_s(l.fact_sales_order_rows, l.fact_sales_order_s),
        per_s(l.fact_sales_order_rows, l.copy_from_ceiling_s),
        "-",
        l.fact_sales_order_s,
        "-",
        "-",
        l.ratio_to_copy_from
    );
    out += &format!(
        "{:<34} {:>8} s wall, {:.2} s cpu, {} MB\n",
        "load, every batch",
        l.process.wall_s,
        l.process.user_s + l.process.sys_s,
        l.process.peak_rss_kb / 1024
    );
    out
}

/// The whole runs: nothing new, then 1% of the sales orders changed.
fn runs(r: &Report) -> String {
    let mut out = String::new();
    out += &format!("{:<34} {} s\n", "tote run, nothing new", r.run.no_change_wall_s);
    out += &format!(
        "{:<34} {} s\n",
        "tote run, 1% of orders changed", r.run.one_percent_changed_wall_s
    );
    out
}

/// Each stage's peak RSS at the three scales.
fn peak_rss(r: &Report) -> String {
    let (i, t, l) = (&r.ingest, &r.transform, &r.load);
    let mut out = String::new();
    for (what, small, at, large) in [
        (
            "ingest peak RSS",
            i.small_peak_rss_kb,
            i.process.peak_rss_kb,
            i.large_peak_rss_kb,
        ),
        (
            "transform peak RSS",
            t.small_peak_rss_kb,
            t.process.peak_rss_kb,
            t.large_peak_rss_kb,
        ),
        (
            "load peak RSS",
            l.small_peak_rss_kb,
            l.process.peak_rss_kb,
            l.large_peak_rss_kb,
        ),
    ] {
        out += &format!(
            "{:<34} {} MB at scale {}, {} MB at scale {}, {} MB at scale {}\n",
            what,
            small / 1024,
            i.small_scale,
            at / 1024,
            r.scale,
            large / 1024,
            i.large_scale
        );
    }
    out
}

/// The whole first run's ingest and load beside their ceilings, and the ratios at the large scale.
fn pipeline(r: &Report) -> String {
    let (i, l, p) = (&r.ingest, &r.load, &r.pipeline);
    let mut out = String::new();
    out += &format!(
        "{:<34} {} s (ceiling {} s, ratio {}); load {} s (ceiling {} s, ratio {}); run {} s\n",
        "whole first ingest, 11 tables",
        p.ingest_s,
        p.ingest_copy_to_ceiling_s,
        p.ingest_ratio_to_copy_to,
        p.load_s,
        p.load_copy_from_ceiling_s,
        p.load_ratio_to_copy_from,
        p.first_run_wall_s
    );
    out += &format!(
        "{:<34} tote {} s; the ceiling: the source's COPYs {} s, psql {} s\n",
        "whole ingest's CPU, one at a time", p.ingest_tote_cpu_s, p.ingest_source_cpu_s, p.ingest_psql_cpu_s
    );
    out += &format!(
        "{:<34} {} s (ceiling {} s, ratio {})\n",
        "… the source on a core of its own",
        p.ingest_apart_s,
        p.ingest_apart_copy_to_ceiling_s,
        p.ingest_apart_ratio_to_copy_to
    );
    out += &format!(
        "{:<34} ingest {}, load {} ({} sales orders)\n",
        format!("ratios at scale {}", i.large_scale),
        i.large_ratio_to_copy_to,
        l.large_ratio_to_copy_from,
        i.large_rows
    );
    out
}
