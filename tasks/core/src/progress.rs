//! How far long work has got: seeding, ingesting a table, running a model, loading a batch.
//!
//! The stages report progress through this module and never draw anything themselves: the `tote`
//! command installs a [`Reporter`] that draws bars on a terminal or prints plain lines, and a
//! Lambda installs none, so every call here is a cheap no-op there. Reporting is global (one
//! reporter per process) because a stage is called from the CLI, the local executor and a Lambda
//! handler alike, and none of them should have to thread a progress handle through the stage's
//! API.

use std::sync::{Arc, OnceLock};

/// What a task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Rows of a table (ingest, seed).
    Rows,
    /// Pieces of work of one kind: models of a transform, batches of a load, tables of a Map.
    Steps,
}

/// Draws or prints the progress of tasks; installed once per process by the program's `main`.
pub trait Reporter: Send + Sync {
    /// A task named `label` begins; `total` is how many units it will count, when known.
    fn start(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn TaskReporter>;
    /// A line of text that must not tear a bar being drawn (the reporter prints it above the bars).
    fn println(&self, line: &str);
}

/// The progress of one task, as its reporter shows it.
pub trait TaskReporter: Send + Sync {
    /// `units` more units are done, and `bytes` more bytes written.
    fn advance(&self, units: u64, bytes: u64);
    /// The task is over (successfully or not); called exactly once.
    fn finish(&self);
}

static REPORTER: OnceLock<Arc<dyn Reporter>> = OnceLock::new();

/// Installs the process's reporter. Returns false (and keeps the first) if one was installed.
pub fn install(reporter: Arc<dyn Reporter>) -> bool {
    REPORTER.set(reporter).is_ok()
}

/// Begins a task; what it reports goes to the installed reporter, or nowhere.
pub fn task(label: &str, unit: Unit, total: Option<u64>) -> Task {
    Task {
        inner: REPORTER.get().map(|r| r.start(label, unit, total)),
    }
}

/// Prints `line` on stderr without tearing the progress bars; plain `eprintln!` with no reporter.
pub fn println(line: &str) {
    match REPORTER.get() {
        Some(r) => r.println(line),
        None => eprintln!("{line}"),
    }
}

/// A running task. Finishes when dropped, so an early return (an error) ends its bar too.
pub struct Task {
    inner: Option<Box<dyn TaskReporter>>,
}

impl Task {
    /// `units` more units are done, and `bytes` more bytes written.
    pub fn advance(&self, units: u64, bytes: u64) {
        if let Some(inner) = &self.inner {
            inner.advance(units, bytes);
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);
    struct RecordedTask(String, Arc<Mutex<Vec<String>>>);

    impl Reporter for Recorder {
        fn start(&self, label: &str, unit: Unit, total: Option<u64>) -> Box<dyn TaskReporter> {
            self.0
                .lock()
                .unwrap()
                .push(format!("start {label} {unit:?} {total:?}"));
            Box::new(RecordedTask(label.to_string(), self.0.clone()))
        }
        fn println(&self, line: &str) {
            self.0.lock().unwrap().push(format!("line {line}"));
        }
    }
    impl TaskReporter for RecordedTask {
        fn advance(&self, units: u64, bytes: u64) {
            self.1
                .lock()
                .unwrap()
                .push(format!("advance {} {units} {bytes}", self.0));
        }
        fn finish(&self) {
            self.1.lock().unwrap().push(format!("finish {}", self.0));
        }
    }

    #[test]
    fn a_task_reports_to_the_installed_reporter_and_finishes_once_when_dropped() {
        let recorder = Recorder::default();
        let events = recorder.0.clone();
        assert!(install(Arc::new(recorder)));
        assert!(
            !install(Arc::new(Recorder::default())),
            "the first reporter stays"
        );
        {
            let t = task("ingest sales_order", Unit::Rows, None);
            t.advance(10, 100);
            println("hello");
        }
        assert_eq!(
            *events.lock().unwrap(),
            [
                "start ingest sales_order Rows None",
                "advance ingest sales_order 10 100",
                "line hello",
                "finish ingest sales_order",
            ]
        );
    }
}
