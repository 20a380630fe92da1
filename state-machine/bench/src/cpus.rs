//! The cores a process may run on: the source kept on a core of its own.

use std::process::Command;

/// The cores this process may run on (the server it starts inherits them), ascending.
pub(crate) fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size given, for the kernel to fill in.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: every index is below CPU_SETSIZE, the set's capacity.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The set of the cores `cpus` (each below CPU_SETSIZE, as [`allowed_cpus`] answers them).
pub(crate) fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Restricts process `pid` (0: this one) to the cores of `set`.
pub(crate) fn set_affinity(pid: libc::pid_t, set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    match unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// `command`, to run on the cores of `set` only.
pub(crate) fn on_cpus(command: &mut Command, set: libc::cpu_set_t) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure makes one system call and allocates nothing, as `pre_exec` requires.
    unsafe { command.pre_exec(move || set_affinity(0, &set)) }
}
