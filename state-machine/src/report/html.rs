//! The report as one self-contained HTML file: inline CSS and SVG, and inline scripts (the
//! vendored dagre layout library and the few lines that draw its result), nothing fetched.
//!
//! The state-machine graph is laid out by dagre in the browser (a layered layout like the
//! console's graph view); the timeline, the rows and the freshness chart are plain SVG and tables
//! drawn here, since their geometry is a scale, not a layout. Every state element carries
//! `data-state` and `data-outcome`, which the browser test reads.

use std::fmt::Write as _;

use serde_json::json;

use super::{Outcome, Page, StateRun};

/// The layout library: @dagrejs/dagre 3.1.3 (MIT, `dagre.LICENSE.txt`), its minified build.
const DAGRE: &str = include_str!("dagre.min.js");

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Milliseconds as a person reads them: `850 ms`, `4.2 s`, `3 min 5 s`.
fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

const STYLE: &str = r#"
:root { --ok: #2e7d32; --retried: #ef8f00; --failed: #c62828; --running: #1565c0; --notrun: #9e9e9e; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
header { background: #232f3e; color: #fff; padding: 14px 24px; display: flex; gap: 18px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header .meta { color: #c9d1da; }
main { padding: 8px 24px 32px; max-width: 1500px; }
section, details { background: #fff; border: 1px solid #dfe3e8; border-radius: 6px; margin: 14px 0; padding: 12px 16px; }
h2 { font-size: 15px; margin: 0 0 10px; }
.badge { border-radius: 10px; padding: 1px 10px; font-size: 12px; font-weight: 600; color: #fff; }
.SUCCEEDED { background: var(--ok); } .FAILED, .TIMED_OUT, .ABORTED { background: var(--failed); } .RUNNING { background: var(--running); }
.failure { border-left: 5px solid var(--failed); }
.failure code, td code { background: #f1f3f5; padding: 0 4px; border-radius: 3px; }
#graph svg { width: 100%; height: auto; }
.state rect { stroke-width: 2; rx: 6; }
.state text { font-size: 12px; text-anchor: middle; }
.state .sub { font-size: 10.5px; fill: #56606b; }
.outcome-succeeded rect { fill: #e8f5e9; stroke: var(--ok); }
.outcome-retried rect { fill: #fff3e0; stroke: var(--retried); }
.outcome-failed rect { fill: #ffebee; stroke: var(--failed); }
.outcome-running rect { fill: #e3f2fd; stroke: var(--running); }
.outcome-not_run rect { fill: #fafafa; stroke: var(--notrun); stroke-dasharray: 4 3; }
.redriven rect { stroke-width: 3.5; }
.edge { fill: none; stroke: #8a96a3; stroke-width: 1.4; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.bar-succeeded { fill: var(--ok); } .bar-retried { fill: var(--retried); } .bar-failed { fill: var(--failed); }
.bar-running { fill: var(--running); } .bar-not_run { fill: var(--notrun); }
.lane text { font-size: 11.5px; } .axis { font-size: 10.5px; fill: #6b7580; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f2; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; align-items: start; }
.spark polyline { fill: none; stroke: var(--running); stroke-width: 1.5; }
.spark circle { fill: var(--running); }
summary { cursor: pointer; font-weight: 600; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: 11.5px; max-width: 700px; }
"#;

/// The script that lays the graph out with dagre and draws it.
const DRAW: &str = r#"
(function () {
  const svg = document.getElementById('graph-svg');
  const NS = 'http://www.w3.org/2000/svg';
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 12, ranksep: 30, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of GRAPH.nodes) g.setNode(n.id, Object.assign({ width: n.iteration ? Math.max(118, 16 + 7 * n.label.length) : 170, height: 46 }, n));
  for (const [from, to] of GRAPH.edges) g.setEdge(from, to);
  dagre.layout(g);
  const el = (name, attrs, parent) => {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    parent.appendChild(e);
    return e;
  };
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a96a3' }, marker);
  for (const e of g.edges()) {
    const pts = g.edge(e).points.map(p => p.x + ',' + p.y).join(' ');
    el('polyline', { points: pts, class: 'edge', 'marker-end': 'url(#arrow)' }, svg);
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const cls = 'state outcome-' + n.outcome + (n.redriven ? ' redriven' : '');
    const box = el('g', { class: cls, 'data-state': n.id, 'data-outcome': n.outcome, transform: 'translate(' + (n.x - n.width / 2) + ',' + (n.y - n.height / 2) + ')' }, svg);
    el('rect', { width: n.width, height: n.height }, box);
    const t = el('text', { x: n.width / 2, y: 18 }, box);
    t.textContent = n.label;
    const s = el('text', { x: n.width / 2, y: 35, class: 'sub' }, box);
    s.textContent = n.sub;
    const tip = el('title', {}, box);
    tip.textContent = n.id + ' (' + n.kind + '): ' + n.outcome_label + (n.sub ? ', ' + n.sub : '');
  }
  const size = g.graph();
  svg.setAttribute('viewBox', '0 0 ' + size.width + ' ' + size.height);
  svg.setAttribute('data-drawn', 'true');
})();
"#;

/// The one-line summary under a state's name: duration, attempts, "redriven".
fn sub(run: &StateRun) -> String {
    let mut parts = Vec::new();
    if let Some(ms) = run.duration_ms() {
        parts.push(duration(ms));
    }
    if run.attempts > 1 {
        parts.push(format!("{} attempts", run.attempts));
    }
    if run.redriven {
        parts.push("redriven".into());
    }
    if run.outcome == Outcome::NotRun {
        parts.push("not run".into());
    }
    parts.join(" · ")
}

/// The graph's nodes and edges as the drawing script reads them: each Map's iterations fan out
/// from the Map and back into its next state.
fn graph(page: &Page) -> serde_json::Value {
    let node = |run: &StateRun, label: &str, iteration: bool| {
        json!({
            "id": run.name, "label": label, "kind": run.kind, "outcome": run.outcome,
            "outcome_label": run.outcome.label(), "sub": sub(run), "redriven": run.redriven,
            "iteration": iteration,
        })
    };
    let mut nodes: Vec<serde_json::Value> = page.states.iter().map(|s| node(s, &s.name, false)).collect();
    let mut edges: Vec<(String, String)> = Vec::new();
    for (from, to) in &page.edges {
        match page.iterations.get(from).filter(|lanes| !lanes.is_empty()) {
            Some(lanes) => {
                // dagre places the first-added of equal nodes rightmost: add them last to first,
                // so they read in item order, left to right.
                for lane in lanes.iter().rev() {
                    let item = lane
                        .name
                        .trim_start_matches(from.as_str())
                        .trim_matches(['[', ']']);
                    nodes.push(node(lane, item, true));
                    edges.push((from.clone(), lane.name.clone()));
                    edges.push((lane.name.clone(), to.clone()));
                }
            }
            None => edges.push((from.clone(), to.clone())),
        }
    }
    json!({ "nodes": nodes, "edges": edges })
}

/// The Gantt chart: one lane per state that ran, the Map's iterations in lanes of their own.
fn timeline(page: &Page) -> String {
    let mut lanes: Vec<&StateRun> = Vec::new();
    for state in page.states.iter().filter(|s| s.span_ms.is_some()) {
        lanes.push(state);
        if let Some(iterations) = page.iterations.get(&state.name) {
            lanes.extend(iterations.iter().filter(|s| s.span_ms.is_some()));
        }
    }
    let total = page
        .duration_ms
        .or_else(|| lanes.iter().filter_map(|l| l.span_ms.map(|(_, b)| b)).max())
        .unwrap_or(1)
        .max(1) as f64;
    let (label_w, chart_w, lane_h) = (230.0, 820.0, 19.0);
    let height = lanes.len() as f64 * lane_h + 26.0;
    let mut svg = format!(
        r#"<svg id="timeline-svg" viewBox="0 0 {w} {height}" width="100%" role="img" aria-label="timeline">"#,
        w = label_w + chart_w + 40.0
    );
    for tick in 0..=4 {
        let x = label_w + chart_w * tick as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{x}" x2="{x}" y1="0" y2="{y}" stroke="#eef0f2"/><text class="axis" x="{x}" y="{t}" text-anchor="middle">{label}</text>"##,
            y = height - 14.0,
            t = height - 3.0,
            label = escape(&duration((total * tick as f64 / 4.0) as i64)),
        );
    }
    for (i, lane) in lanes.iter().enumerate() {
        let (a, b) = lane.span_ms.expect("lanes ran");
        let y = i as f64 * lane_h;
        let x = label_w + chart_w * a as f64 / total;
        let w = (chart_w * (b - a) as f64 / total).max(2.0);
        let outcome = serde_json::to_value(lane.outcome)
            .expect("an enum")
            .as_str()
            .unwrap_or("")
            .to_string();
        let _ = write!(
            svg,
            r#"<g class="lane" data-state="{name}" data-outcome="{outcome}"><text x="{lx}" y="{ty}">{name}</text><rect class="bar-{outcome}" x="{x:.1}" y="{by}" width="{w:.1}" height="{bh}" rx="2"><title>{name}: {label}, {d}{attempts}</title></rect></g>"#,
            name = escape(&lane.name),
            lx = if lane.name.contains('[') { 14.0 } else { 0.0 },
            ty = y + 13.0,
            by = y + 3.0,
            bh = lane_h - 6.0,
            label = lane.outcome.label(),
            d = escape(&duration(b - a)),
            attempts = if lane.attempts > 1 {
                format!(", {} attempts", lane.attempts)
            } else {
                String::new()
            },
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Rows through the stages: source tables (ingested) beside star tables (produced, loaded).
fn rows(page: &Page) -> String {
    let mut source = String::from(
        r#"<table id="rows-source"><tr><th>source table</th><th class="n">ingested</th><th class="n">bytes written</th><th class="n">deleted</th></tr>"#,
    );
    let mut star = String::from(
        r#"<table id="rows-star"><tr><th>star table</th><th class="n">produced</th><th class="n">loaded</th><th class="n">deleted</th></tr>"#,
    );
    let row = |out: &mut String, table: &str, figures: [u64; 3]| {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(table),
            figures[0],
            figures[1],
            figures[2]
        );
    };
    for (table, r) in &page.rows {
        let is_star =
            table.starts_with("dim_") || table.starts_with("fact_") || r.transformed > 0 || r.loaded > 0;
        match is_star {
            true => row(&mut star, table, [r.transformed, r.loaded, r.deleted]),
            false => row(&mut source, table, [r.ingested, r.bytes, r.deleted]),
        }
    }
    format!(r#"<div class="cols">{source}</table>{star}</table></div>"#)
}

/// Per-table freshness over recent executions: a sparkline and the latest figure per table.
fn freshness(page: &Page) -> String {
    if page.freshness.is_empty() {
        return "<p>No fact load of these executions measured freshness.</p>".into();
    }
    let tables: std::collections::BTreeSet<&String> =
        page.freshness.iter().flat_map(|p| p.tables.keys()).collect();
    let max = page
        .freshness
        .iter()
        .flat_map(|p| p.tables.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h) = (220.0, 26.0);
    let n = page.freshness.len();
    let mut out = format!(
        r#"<table id="freshness-table"><tr><th>source table</th><th>over the last {n} execution(s) (scale 0 – {})</th><th class="n">latest</th></tr>"#,
        escape(&duration(max as i64))
    );
    for table in tables {
        let points: Vec<(f64, f64)> = page
            .freshness
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let v = *p.tables.get(table)? as f64;
                let x = if n > 1 {
                    4.0 + (w - 8.0) * i as f64 / (n - 1) as f64
                } else {
                    w / 2.0
                };
                Some((x, h - 3.0 - (h - 6.0) * v / max))
            })
            .collect();
        let line: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let dots: String = points
            .iter()
            .map(|(x, y)| format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="2"/>"#))
            .collect();
        let latest = page
            .freshness
            .last()
            .and_then(|p| p.tables.get(table))
            .copied()
            .unwrap_or(0);
        let _ = write!(
            out,
            r#"<tr data-table="{t}"><td>{t}</td><td><svg class="spark" width="{w}" height="{h}"><polyline points="{}"/>{dots}</svg></td><td class="n">{}</td></tr>"#,
            line.join(" "),
            escape(&duration(latest as i64)),
            t = escape(table),
        );
    }
    out.push_str("</table>");
    out
}

/// The history as a collapsible table.
fn history(page: &Page) -> String {
    let mut out = format!(
        r#"<details id="history"><summary>Event history ({} events)</summary><table><tr><th class="n">id</th><th>time (UTC)</th><th>type</th><th>where</th><th>state</th><th>details</th></tr>"#,
        page.events.len()
    );
    for e in &page.events {
        let scope: Vec<String> = e
            .scope
            .iter()
            .map(|f| format!("{}[{}]", f.state, f.index))
            .collect();
        let d = &e.details;
        let detail = match (&d.error, &d.output, &d.input) {
            (Some(error), _, _) => format!("{error}: {}", d.cause.clone().unwrap_or_default()),
            (None, Some(output), _) => output.to_string(),
            (None, None, Some(input)) => input.to_string(),
            _ => String::new(),
        };
        let detail: String = detail.chars().take(600).collect();
        let _ = write!(
            out,
            r#"<tr><td class="n">{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>"#,
            e.id,
            e.timestamp.format("%H:%M:%S%.3f"),
            e.event_type,
            escape(&scope.join(" / ")),
            escape(d.name.as_deref().unwrap_or("")),
            escape(&detail)
        );
    }
    out.push_str("</table></details>");
    out
}

/// The whole page.
pub fn render(page: &Page) -> String {
    let graph = serde_json::to_string(&graph(page))
        .expect("JSON")
        .replace("</", "<\\/");
    let failure = match &page.failure {
        Some(f) => format!(
            r#"<section class="failure" id="failure"><h2>Failed{at}: {error}</h2><p><b>Cause.</b> {cause}</p><p><b>What to do.</b> {advice}</p></section>"#,
            at = f
                .state
                .as_deref()
                .map(|s| format!(" at {}", escape(s)))
                .unwrap_or_default(),
            error = escape(&f.error),
            cause = escape(&f.cause),
            advice = escape(&f.advice),
        ),
        None => String::new(),
    };
    let legend: String = [
        Outcome::Succeeded,
        Outcome::Retried,
        Outcome::Failed,
        Outcome::Running,
        Outcome::NotRun,
    ]
    .iter()
    .map(|o| {
        let key = serde_json::to_value(o)
            .expect("an enum")
            .as_str()
            .unwrap_or("")
            .to_string();
        format!(
            r#"<span><i class="bar-{key}" style="background: var(--{})"></i>{}</span>"#,
            css_var(*o),
            o.label()
        )
    })
    .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tote · execution {name}</title><style>{STYLE}</style></head>
<body data-execution="{name}" data-status="{status}">
<header><h1>execution {name}</h1><span class="badge {status}">{status}</span>
<span class="meta">started {started} UTC · {took} · {redrives} redrive(s)</span></header>
<main>
{failure}
<section id="graph"><h2>State machine</h2><div class="legend">{legend}<span>thick border: ran again in a redrive</span></div><svg id="graph-svg" role="img" aria-label="state machine"></svg></section>
<section id="timeline"><h2>Timeline</h2>{timeline}</section>
<section id="rows"><h2>Rows through the stages</h2>{rows}</section>
<section id="freshness"><h2>Freshness per table after each execution's load (as <code>tote status</code> reports it)</h2>{freshness}</section>
{history}
</main>
<script>{DAGRE}</script>
<script>const GRAPH = {graph};</script>
<script>{DRAW}</script>
</body></html>
"#,
        name = escape(&page.execution),
        status = escape(&page.status),
        started = page.started.format("%Y-%m-%d %H:%M:%S"),
        took = page
            .duration_ms
            .map(duration)
            .unwrap_or_else(|| "still running".into()),
        redrives = page.redrives,
        timeline = timeline(page),
        rows = rows(page),
        freshness = freshness(page),
        history = history(page),
    )
}

fn css_var(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "ok",
        Outcome::Retried => "retried",
        Outcome::Failed => "failed",
        Outcome::Running => "running",
        Outcome::NotRun => "notrun",
    }
}

/// A page listing `pages` (newest first) with links to each one's report (`<name>.html`).
pub fn index(pages: &[Page]) -> String {
    let mut rows = String::new();
    for p in pages {
        let loaded: u64 = p.rows.values().map(|r| r.loaded).sum();
        let ingested: u64 = p.rows.values().map(|r| r.ingested).sum();
        let _ = write!(
            rows,
            r#"<tr data-execution="{name}"><td><a href="{file}">{name}</a></td><td><span class="badge {status}">{status}</span></td><td>{started}</td><td class="n">{took}</td><td class="n">{redrives}</td><td class="n">{ingested}</td><td class="n">{loaded}</td></tr>"#,
            name = escape(&p.execution),
            file = escape(&format!("{}.html", p.execution)),
            status = escape(&p.status),
            started = p.started.format("%Y-%m-%d %H:%M:%S"),
            took = p.duration_ms.map(duration).unwrap_or_else(|| "-".into()),
            redrives = p.redrives,
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tote · executions</title><style>{STYLE}</style></head>
<body><header><h1>tote executions</h1><span class="meta">{n} recent</span></header><main><section>
<table id="executions"><tr><th>execution</th><th>status</th><th>started (UTC)</th><th class="n">duration</th><th class="n">redrives</th><th class="n">rows ingested</th><th class="n">rows loaded</th></tr>{rows}</table>
</section></main></body></html>
"#,
        n = pages.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_durations_read_naturally() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4210), "4.2 s");
        assert_eq!(duration(185_000), "3 min 5 s");
    }

    #[test]
    fn the_page_is_self_contained_and_small() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/executions");
        let record = tote_asl::ExecutionStore::new(root).load("broken").unwrap();
        let html = render(&Page::of(&record, &[]));
        assert!(html.len() < 500 * 1024, "{} bytes", html.len());
        for remote in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!html.contains(remote), "fetches nothing: {remote}");
        }
        assert!(html.contains(r#"data-state="IngestTables[sales_order]""#));
        assert!(html.contains("var dagre="), "the layout library is inline");
    }
}
