//! The `tote` command's progress reporter: bars on stderr when stderr is a terminal, plain
//! lines when it is not (a log file, CI, a pipe), and nothing at all for a `--json` run, so that a
//! machine reading the output never sees a bar.
//!
//! Stages report through [`tote_core::progress`]; this is the one place that draws.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tote_core::progress::{self, Reporter, TaskReporter, Unit};

/// A task that ran at least this long gets a line when it ends, so long work leaves a record.
const WORTH_A_LINE: Duration = Duration::from_secs(1);
/// Without a terminal, a running task prints how far it got at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Installs the reporter for this process: `json` is whether the command prints JSON.
pub fn install(json: bool) {
    if json {
        return;
    }
    if std::io::stderr().is_terminal() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        progress::install(Arc::new(Bars { multi }));
    } else {
        progress::install(Arc::new(Lines));
    }
}

/// What a finished or running task has done, as one line: `ingest sales_order: 1,125,600 rows, 45.2 MiB`.
fn summary(label: &str, unit: Unit, units: u64, total: Option<u64>, bytes: u64) -> String {
    let mut line = match (unit, total) {
        (Unit::Rows, _) => format!("{label}: {} rows", HumanCount(units)),
        (Unit::Steps, Some(total)) => format!("{label}: {units} of {total}"),
        (Unit::Steps, None) => format!("{label}: {units}"),
    };
    if bytes > 0 {
        line.push_str(&format!(", {}", HumanBytes(bytes)));
    }
    line
}

/// What both reporters know of a task: its name, what it counts, and when it began.
struct TaskInfo {
    label: String,
    unit: Unit,
    total: Option<u64>,
    started: Instant,
}

impl TaskInfo {
    fn new(label: &str, unit: Unit, total: Option<u64>) -> Self {
        TaskInfo {
            label: label.to_string(),
            unit,
            total,
            started: Instant::now(),
        }
    }

    fn summary(&self, units: u64, bytes: u64) -> String {
        summary(&self.label, self.unit, units, self.total, bytes)
    }

    /// The line a finished task leaves, if it ran long enough to be worth one.
    fn done_line(&self, units: u64, bytes: u64) -> Option<String> {
        let elapsed = self.started.elapsed();
        (elapsed >= WORTH_A_LINE).then(|| {
            format!(
                "  ✓ {} in {:.1} s",
                self.summary(units, bytes),
                elapsed.as_secs_f64()
            )
        })
    }
}

/// Bars drawn on a terminal, one per running task.
struct Bars {
    multi: MultiProgress,
}

impl Reporter for Bars {
    fn start(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn TaskReporter> {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {elapsed}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {human_pos} rows {msg} {elapsed}")
                    .expect("a valid template"),
            ),
        };
        let bar = self.multi.add(bar.with_prefix(label.to_string()));
        bar.enable_steady_tick(Duration::from_millis(100));
        Box::new(Bar {
            bar,
            multi: self.multi.clone(),
            info: TaskInfo::new(label, unit, total),
            bytes: Mutex::new(0),
        })
    }

    fn println(&self, line: &str) {
        // Printed above the bars; MultiProgress keeps them intact.
        let _ = self.multi.println(line);
    }
}

struct Bar {
    bar: ProgressBar,
    multi: MultiProgress,
    info: TaskInfo,
    bytes: Mutex<u64>,
}

impl TaskReporter for Bar {
    fn advance(&self, units: u64, bytes: u64) {
        self.bar.inc(units);
        if bytes > 0 {
            let mut total = self.bytes.lock().expect("not poisoned");
            *total += bytes;
            self.bar.set_message(HumanBytes(*total).to_string());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
        let bytes = *self.bytes.lock().expect("not poisoned");
        if let Some(line) = self.info.done_line(self.bar.position(), bytes) {
            let _ = self.multi.println(line);
        }
    }
}

/// Plain lines on stderr: how far a long task got every [`PLAIN_EVERY`], and a line when it ends.
struct Lines;

impl Reporter for Lines {
    fn start(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn TaskReporter> {
        Box::new(Line {
            info: TaskInfo::new(label, unit, total),
            state: Mutex::new(LineState {
                units: 0,
                bytes: 0,
                last_printed: Instant::now(),
            }),
        })
    }

    fn println(&self, line: &str) {
        eprintln!("{line}");
    }
}

struct Line {
    info: TaskInfo,
    state: Mutex<LineState>,
}

struct LineState {
    units: u64,
    bytes: u64,
    last_printed: Instant,
}

impl TaskReporter for Line {
    fn advance(&self, units: u64, bytes: u64) {
        let mut state = self.state.lock().expect("not poisoned");
        state.units += units;
        state.bytes += bytes;
        if state.last_printed.elapsed() >= PLAIN_EVERY {
            state.last_printed = Instant::now();
            eprintln!("  … {} so far", self.info.summary(state.units, state.bytes));
        }
    }

    fn finish(&self) {
        let state = self.state.lock().expect("not poisoned");
        if let Some(line) = self.info.done_line(state.units, state.bytes) {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_the_task_its_count_and_its_bytes() {
        assert_eq!(
            summary("ingest sales_order", Unit::Rows, 1_125_600, None, 47_395_635),
            "ingest sales_order: 1,125,600 rows, 45.20 MiB"
        );
        assert_eq!(
            summary("transform: models", Unit::Steps, 3, Some(11), 0),
            "transform: models: 3 of 11"
        );
    }
}
