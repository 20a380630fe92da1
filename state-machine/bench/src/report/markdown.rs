//! `bench.md`: the report as the Markdown table docs/benchmarks.md quotes.

use super::{per_s, Report};
use crate::DEPLOYED_TRANSFORM_MEMORY_MB;

/// The Markdown tables docs/benchmarks.md quotes: the stages, then the transform beside DuckDB.
pub(crate) fn markdown(r: &Report, quiet_rss_kb: u64) -> String {
    stages(r, quiet_rss_kb) + &transform_beside_duckdb(r)
}

/// KiB in MiB, as the tables show them.
fn mb(kb: u64) -> u64 {
    kb / 1024
}

/// The heading and the stages' table: each stage beside its ceiling, its peak RSS at the three
/// scales (the no-change transform's is `quiet_rss_kb`), and the whole first run.
fn stages(r: &Report, quiet_rss_kb: u64) -> String {
    let (i, t, l) = (&r.ingest, &r.transform, &r.load);
    format!(
        "## Benchmarks ({date}, {machine})\n\n\
         | stage | rows | tote rows/s | COPY ceiling rows/s | tote / ceiling | peak RSS |\n\
         |---|---|---|---|---|---|\n\
         | ingest sales_order (scale {scale}) | {rows} | {ingest_rate} | {ceiling_rate} | {ratio} | {rss} MB (scale {small}: {s_rss} MB, scale {large}: {g_rss} MB) |\n\
         | transform, all 11 models, first run (scale {scale}) | {rows} sales orders | {t_rate} | — | — | {t_rss} MB (scale {small}: {s_t_rss} MB, scale {large}: {g_t_rss} MB) |\n\
         | transform, no change | — | {q_wall} s | — | — | {q_rss} MB |\n\
         | load fact_sales_order (scale {scale}) | {fso_rows} | {l_rate} | {l_ceiling_rate} | {load_ratio} | {l_rss} MB, every batch (scale {small}: {s_l_rss} MB, scale {large}: {g_l_rss} MB) |\n\
         | `tote run`, nothing new | — | {run_quiet} s | — | — | — |\n\
         | `tote run`, 1% of sales orders changed | — | {run_one} s | — | — | — |\n\
         | ingest / load at scale {large} ({g_rows} sales orders) | — | — | — | {g_ratio} / {g_load_ratio} | — |\n\
         | whole first ingest, 11 tables (scale {scale}) | — | {p_ingest} s | {p_ingest_ceiling} s | {p_ingest_ratio} | — |\n\
         | … CPU, one table at a time: tote / the source's COPYs + psql | — | {p_tote_cpu} s | {p_source_cpu} s + {p_psql_cpu} s | — | — |\n\
         | … the source on a core of its own, tote and psql on the others | — | {p_apart} s | {p_apart_ceiling} s | {p_apart_ratio} | — |\n\
         | whole first load, every batch (scale {scale}) | — | {p_load} s | {p_load_ceiling} s | {p_load_ratio} | — |\n\
         | … of which the dimensions / the facts | — | {p_dims} s / {p_facts} s | {p_dims_ceiling} s / {p_facts_ceiling} s | — | — |\n\
         | whole first `tote run` (scale {scale}) | — | {p_run} s | — | — | — |\n\
         \n",
        date = r.date,
        machine = r.machine,
        scale = r.scale,
        rows = i.rows,
        ingest_rate = per_s(i.rows, i.process.wall_s),
        ceiling_rate = per_s(i.rows, i.ceiling_wall_s),
        ratio = i.ratio_to_copy_to,
        rss = mb(i.process.peak_rss_kb),
        small = i.small_scale,
        s_rss = mb(i.small_peak_rss_kb),
        large = i.large_scale,
        g_rss = mb(i.large_peak_rss_kb),
        t_rate = per_s(i.rows, t.process.wall_s),
        t_rss = mb(t.process.peak_rss_kb),
        s_t_rss = mb(t.small_peak_rss_kb),
        g_t_rss = mb(t.large_peak_rss_kb),
        q_wall = t.no_change_wall_s,
        q_rss = mb(quiet_rss_kb),
        fso_rows = l.fact_sales_order_rows,
        l_rate = per_s(l.fact_sales_order_rows, l.fact_sales_order_s),
        l_ceiling_rate = per_s(l.fact_sales_order_rows, l.copy_from_ceiling_s),
        load_ratio = l.ratio_to_copy_from,
        l_rss = mb(l.process.peak_rss_kb),
        s_l_rss = mb(l.small_peak_rss_kb),
        g_l_rss = mb(l.large_peak_rss_kb),
        run_quiet = r.run.no_change_wall_s,
        run_one = r.run.one_percent_changed_wall_s,
        g_rows = i.large_rows,
        g_ratio = i.large_ratio_to_copy_to,
        g_load_ratio = l.large_ratio_to_copy_from,
        p_ingest = r.pipeline.ingest_s,
        p_ingest_ceiling = r.pipeline.ingest_copy_to_ceiling_s,
        p_ingest_ratio = r.pipeline.ingest_ratio_to_copy_to,
        p_tote_cpu = r.pipeline.ingest_tote_cpu_s,
        p_source_cpu = r.pipeline.ingest_source_cpu_s,
        p_psql_cpu = r.pipeline.ingest_psql_cpu_s,
        p_apart = r.pipeline.ingest_apart_s,
        p_apart_ceiling = r.pipeline.ingest_apart_copy_to_ceiling_s,
        p_apart_ratio = r.pipeline.ingest_apart_ratio_to_copy_to,
        p_load = r.pipeline.load_s,
        p_load_ceiling = r.pipeline.load_copy_from_ceiling_s,
        p_load_ratio = r.pipeline.load_ratio_to_copy_from,
        p_run = r.pipeline.first_run_wall_s,
        p_dims = r.pipeline.load_dimensions_s,
        p_facts = r.pipeline.load_facts_s,
        p_dims_ceiling = r.pipeline.load_dimensions_ceiling_s,
        p_facts_ceiling = r.pipeline.load_facts_ceiling_s,
    )
}

/// The first transform beside DuckDB running the same models: each at its default memory, then
/// both with the deployed transform's budget.
fn transform_beside_duckdb(r: &Report) -> String {
    let t = &r.transform;
    format!(
        "| first transform, all models (scale {scale}) | tote | DuckDB | tote / DuckDB | peak RSS tote / DuckDB |\n\
         |---|---|---|---|---|\n\
         | the same SQL over the same landing Parquet, zstd Parquet out; each at its default memory (tote {local} MB) | {t_wall} s | {d_wall} | {d_ratio} | {t_rss} MB / {d_rss} |\n\
         | the same, with {budget} MB of memory each | {m_wall} | {m_d_wall} | {m_ratio} | {m_rss} / {m_d_rss} |\n",
        scale = r.scale,
        t_rss = mb(t.process.peak_rss_kb),
        t_wall = t.process.wall_s,
        d_wall = t.duckdb.duckdb_wall_s.map_or("not measured".into(), |s| format!("{s} s")),
        d_ratio = t.duckdb.ratio_to_duckdb.map_or("—".into(), |r| r.to_string()),
        local = t.memory_mb,
        budget = DEPLOYED_TRANSFORM_MEMORY_MB,
        m_wall = t.same_memory.as_ref().map_or("not measured".into(), |m| format!("{} s", m.process.wall_s)),
        m_rss = t.same_memory.as_ref().map_or("—".into(), |m| format!("{} MB", mb(m.process.peak_rss_kb))),
        m_d_wall = t
            .same_memory
            .as_ref()
            .and_then(|m| m.duckdb.duckdb_wall_s)
            .map_or("not measured".into(), |s| format!("{s} s")),
        m_d_rss = t
            .same_memory
            .as_ref()
            .and_then(|m| m.duckdb.duckdb_peak_rss_kb)
            .map_or("—".into(), |kb| format!("{} MB", mb(kb))),
        m_ratio = t
            .same_memory
            .as_ref()
            .and_then(|m| m.duckdb.ratio_to_duckdb)
            .map_or("—".into(), |r| r.to_string()),
        d_rss = t
            .duckdb
            .duckdb_peak_rss_kb
            .map_or("—".into(), |kb| format!("{} MB", mb(kb))),
    )
}
