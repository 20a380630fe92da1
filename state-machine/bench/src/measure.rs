//! One process measured from the OS, and the arithmetic of the figures.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};

/// One process's cost, as the OS accounts it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cost {
    pub(crate) wall_s: f64,
    pub(crate) user_s: f64,
    pub(crate) sys_s: f64,
    pub(crate) max_rss_kb: u64,
}

/// Runs `command` to completion with stdout sent to `stdout`, and measures it. A command that
/// fails is an error naming it, with its stderr.
pub(crate) fn measure(command: &mut Command, stdout: Stdio) -> anyhow::Result<Cost> {
    let started = Instant::now();
    let child = command
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.expect("stderr is piped");
    // Drained on a thread so a chatty child never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; status and usage are valid pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_s = started.elapsed().as_secs_f64();
    let errors = drain.join().unwrap_or_default();
    if waited != pid {
        bail!(
            "waiting for {:?} failed: {}",
            command.get_program(),
            std::io::Error::last_os_error()
        );
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        // The arguments name the databases: their passwords never reach the message.
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .map(|a| match a.starts_with("postgres://") {
                true => tote_core::credentials::redact(&a),
                false => a,
            })
            .collect();
        bail!(
            "{} {} failed: {}",
            command.get_program().to_string_lossy(),
            args.join(" "),
            errors.trim()
        );
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Cost {
        wall_s,
        user_s: seconds(usage.ru_utime),
        sys_s: seconds(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss as u64,
    })
}

/// The median of `values` (the lower middle one of an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Rounds to two decimals, as the figures are reported.
pub(crate) fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Runs `job` on every item, `concurrency` at a time (each worker a scoped thread taking the
/// next item), and answers the wall time of the whole; the first error fails it.
pub(crate) fn at_once<T: Sync>(
    concurrency: usize,
    items: &[T],
    job: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<f64> {
    let queue = std::sync::Mutex::new(items.iter());
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let next = queue.lock().expect("not poisoned").next();
                        match next {
                            Some(item) => job(item)?,
                            None => return Ok(()),
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a worker does not panic")?;
        }
        Ok(())
    })?;
    Ok(started.elapsed().as_secs_f64())
}

/// The bytes of the files under `dir`.
pub(crate) fn directory_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_process_reports_its_own_cpu_and_memory_and_a_failure_names_it() {
        // Allocates and touches 64 MiB, then exits: its peak RSS is at least that.
        let cost = measure(
            Command::new("python3").args(["-c", "b = bytearray(64 << 20); print(len(b))"]),
            Stdio::null(),
        )
        .unwrap();
        assert!(cost.max_rss_kb >= 64 << 10, "{cost:?}");
        assert!(cost.wall_s > 0.0 && cost.user_s + cost.sys_s > 0.0, "{cost:?}");
        let err = measure(
            Command::new("sh").args(["-c", "echo broken >&2; exit 3"]),
            Stdio::null(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 1.0);
    }
}
